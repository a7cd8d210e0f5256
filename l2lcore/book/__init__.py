"""What every chapter of the book shares: its metadata, and the footer it ends with.

Each chapter's last cell is ``chapter_footer("<slug>")``. The footer links the chapter as a
plain ``.ipynb`` (written at build time by ``book/_ext/notebooks.py``) and shows a BibTeX
entry generated from the chapter's entry in :data:`CHAPTERS`, followed by the paper's own.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import __version__

BOOK_TITLE = "Tuning the step size by learning to learn: an executable companion"
BOOK_AUTHOR = "{The l2lcore authors}"
YEAR = 2026

#: The paper's entry; tests check it is identical to the one in references.bib.
PAPER_BIBTEX = """@inproceedings{wang21ac,
  title     = {Guarantees for Tuning the Step Size using a Learning-to-Learn Approach},
  author    = {Wang, Xiang and Yuan, Shuai and Wu, Chenwei and Ge, Rong},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {139},
  pages     = {10981--10990},
  year      = {2021},
  publisher = {PMLR},
  eprint    = {2006.16495},
  archivePrefix = {arXiv},
  url       = {https://proceedings.mlr.press/v139/wang21ac.html}
}"""


@dataclass(frozen=True)
class Chapter:
    """A chapter: its file stem in ``book/``, its title, and the result it reproduces."""

    slug: str
    title: str
    reproduces: str


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("intro", "Introduction", "the paper as a whole"),
    Chapter("setting", "Setting and notation", "the setting of Section 3"),
    Chapter("theorem3", "Theorem 3: the naive meta-objective explodes or vanishes", "Theorem 3"),
    Chapter("theorem4", "Theorem 4: the log meta-objective and meta-gradient descent",
            "Theorem 4 and Figures 1-2"),
    Chapter("corollary1", "Corollary 1: backpropagation through the unrolled loop", "Corollary 1"),
    Chapter("theorem5", "Theorem 5: few samples, train-by-train overfits", "Theorem 5 and Figure 3"),
    Chapter("theorem6", "Theorem 6: many samples, train-by-train is fine", "Theorem 6 and Figure 4"),
    Chapter("sgd", "SGD as the inner optimizer", "the SGD results of the appendix"),
    Chapter("learned", "A neural learned optimizer on real digits", "Figures 5-7"),
)


def chapter(slug: str) -> Chapter:
    """Look a chapter up by slug."""
    for c in CHAPTERS:
        if c.slug == slug:
            return c
    raise ValueError(f"unknown chapter slug {slug!r}; known: {[c.slug for c in CHAPTERS]}")


def chapter_bibtex(slug: str) -> str:
    """BibTeX for one chapter, generated from its metadata, the package version and its anchor."""
    c = chapter(slug)
    return (
        f"@incollection{{l2lcompanion-{c.slug},\n"
        f"  title     = {{{c.title}}},\n"
        f"  booktitle = {{{BOOK_TITLE}}},\n"
        f"  author    = {{{BOOK_AUTHOR}}},\n"
        f"  year      = {{{YEAR}}},\n"
        f"  version   = {{{__version__}}},\n"
        f"  note      = {{Reproduces {c.reproduces} of Wang, Yuan, Wu and Ge (ICML 2021); "
        f"version {__version__}; chapter anchor book/{c.slug}.html}}\n"
        f"}}"
    )


class _Markdown:
    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class _HTML:
    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def notebook_link(slug: str) -> _HTML:
    """A download link to the chapter as a plain .ipynb, written next to the HTML at build time."""
    chapter(slug)
    return _HTML(
        f'<p><a class="reference download" href="../_notebooks/{slug}.ipynb" download>'
        f"Download this chapter as a Jupyter notebook ({slug}.ipynb)</a>; it opens in plain "
        "Jupyter (no jupytext needed) and reruns with the package installed "
        "(<code>make test</code> sets it up).</p>"
    )


def cite_box(slug: str) -> _Markdown:
    """A "Cite this chapter" admonition: the chapter's BibTeX, then the paper's."""
    return _Markdown(
        "`````{admonition} Cite this chapter\n:class: tip\n"
        "Please cite the paper for its results, and this chapter for the computations shown here.\n\n"
        f"````bibtex\n{chapter_bibtex(slug)}\n\n{PAPER_BIBTEX}\n````\n`````\n"
    )


def chapter_footer(slug: str) -> None:
    """Display the download link and the citation box (the last cell of every chapter)."""
    from IPython.display import display

    display(notebook_link(slug))
    display(cite_box(slug))
