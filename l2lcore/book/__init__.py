"""What every chapter of the book shares: its metadata, its start, its figures, its claims table
and the footer it ends with.

A chapter's setup cell (right after its ``parameters`` cell) calls
``run = book.start("<slug>", globals())``, which checks the parameters (an unknown ``scale`` or a
value of the wrong type is a ValueError naming it) and notes whether they are the defaults of the
chapter's ``parameters`` cell. Then ``run.figure(name, fig, data)`` glues a figure and its
plotted numbers (CSV) for a ``{glue:figure}`` with a ``{figdata}`` role in its caption,
``run.claims(claims, STATEMENTS)`` shows the claims table (failing when a verdict differs from
its expectation at the defaults), and the last cell is ``run.footer()``: a link to the chapter
as a plain ``.ipynb`` (written at build time by ``book/_ext/notebooks.py``) and a BibTeX entry
generated from the chapter's entry in :data:`CHAPTERS`, followed by the paper's own.
"""
from __future__ import annotations

import csv
import io
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .. import __version__
from .claims import CONSISTENCY, PROVEN_VALUES, Claim, ClaimsTable, Statement, check_expectations, claims_table

#: The book's sources: ``book/`` next to the package (an editable install, as ``make`` sets up).
BOOK_DIR = Path(__file__).resolve().parents[2] / "book"
#: The scales every chapter accepts: the book's sizes, and the paper's (a chapter may add its
#: own, between the two: :attr:`Chapter.scales`).
SCALES = ("book", "paper")

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
    """A page of the book: its file stem in ``book/``, its title, and what it reproduces.
    ``notebook`` is False for the plain pages (the results and reproducibility pages);
    ``scales`` are the values its ``scale`` parameter accepts."""

    slug: str
    title: str
    reproduces: str
    notebook: bool = True
    scales: tuple = SCALES

    @property
    def has_result(self) -> bool:
        """A chapter tied to a result of the paper (every notebook but the introduction)."""
        return self.notebook and self.slug != "intro"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("intro", "Introduction", "the paper as a whole"),
    Chapter("results", "Results at a glance", "every statement the book checks", notebook=False),
    Chapter("reproducibility", "Reproducibility: the book's scale and the paper's", "the run times of every chapter",
            notebook=False),
    Chapter("setting", "Setting and notation", "the setting of Section 3"),
    Chapter("theorem3", "Theorem 3: the naive meta-objective explodes or vanishes", "Theorem 3"),
    Chapter("theorem4", "Theorem 4: the log meta-objective and meta-gradient descent",
            "Theorem 4 and Figures 1-2"),
    Chapter("corollary1", "Corollary 1: backpropagation through the unrolled loop", "Corollary 1"),
    Chapter("theorem5", "Theorem 5: few samples, train-by-train overfits", "Theorem 5 and Figure 3"),
    Chapter("theorem6", "Theorem 6: many samples, train-by-train is fine", "Theorem 6 and Figure 4"),
    Chapter("sgd", "SGD as the inner optimizer", "the SGD analogue of Theorems 5 and 6 (our reading)"),
    Chapter("learned", "A neural learned optimizer on real digits", "Figures 5-7", scales=("book", "long", "paper")),
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


# --------------------------------------------------------------------------- a chapter's run


def parameters(slug: str) -> dict | None:
    """The defaults of a chapter's ``parameters`` cell (name -> value), read from its source
    ``book/<slug>.md``; None where the source is not at hand (a downloaded notebook)."""
    chapter(slug)
    source = BOOK_DIR / f"{slug}.md"
    if not source.exists():
        return None
    import jupytext

    cells = [c for c in jupytext.read(source).cells
             if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{source} must have exactly one parameters cell, found {len(cells)}")
    namespace: dict = {}
    exec(cells[0].source, {}, namespace)  # the book's own source: literal assignments
    return {k: v for k, v in namespace.items() if not k.startswith("_")}


def _same_kind(value, default) -> bool:
    """Whether ``value`` may stand where the parameters cell has ``default``: bools only for
    bools, integers for integers, real numbers for floats, strings for strings, lists or tuples
    for lists or tuples, anything where the default is None."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, numbers.Integral):
        return isinstance(value, numbers.Integral)
    if isinstance(default, numbers.Real):
        return isinstance(value, numbers.Real) and math.isfinite(value)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


@dataclass(frozen=True)
class ChapterRun:
    """One execution of a chapter: its slug and whether it runs at the book's defaults (where
    every claim's verdict must be the expected one)."""

    slug: str
    at_defaults: bool

    def figure(self, name: str, fig, data: Mapping[str, Sequence]) -> None:
        """Glue ``fig`` as ``name`` and its plotted numbers as ``name-data`` (CSV), for a
        ``{glue:figure}`` whose caption ends with ``{figdata}`name```. ``data`` maps column
        names to equal-length sequences (long format: one row per plotted point)."""
        from myst_nb import glue
        import matplotlib.pyplot as plt

        if not name.startswith(f"{self.slug}-"):
            raise ValueError(f"figure name must start with '{self.slug}-', got {name!r}")
        glue(name, fig, display=False)
        glue(f"{name}-data", FigureData(name, figure_csv(data)), display=False)
        plt.close(fig)

    def claims(self, claims, statements: Sequence[Statement]) -> ClaimsTable:
        """The chapter's claims table; at the defaults, a verdict other than the expected one
        raises :class:`~l2lcore.book.claims.ClaimExpectationError` (and so fails the build)."""
        table = claims_table(claims, statements, self.slug)
        if self.at_defaults:
            check_expectations(table.claims)
        return table

    def footer(self) -> None:
        chapter_footer(self.slug)


def start(slug: str, namespace: Mapping) -> ChapterRun:
    """Check a chapter's parameters (the names of its ``parameters`` cell, looked up in
    ``namespace``, usually ``globals()``) and start its run."""
    scales = chapter(slug).scales
    scale = namespace.get("scale")
    if scale not in scales:
        raise ValueError(f"scale must be one of {scales}, got {scale!r}")
    defaults = parameters(slug)
    if defaults is None:
        return ChapterRun(slug, False)
    for name, default in defaults.items():
        if name not in namespace:
            raise ValueError(f"parameter {name!r} of chapter {slug!r} is not set")
        if not _same_kind(namespace[name], default):
            raise ValueError(f"parameter {name!r} must be of the kind of its default {default!r} "
                             f"({type(default).__name__}), got {namespace[name]!r}")
    return ChapterRun(slug, all(_equal(namespace[k], v) for k, v in defaults.items()))


def _equal(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except ValueError:  # arrays compare elementwise
        return False


class FigureData:
    """A figure's plotted numbers as CSV; glued next to the figure, written to ``_figdata/``."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/csv": self.text, "text/plain": f"<data of figure {self.name}: {self.text.count(chr(10)) - 1} rows>"}


def _cell(v) -> str:
    import mpmath

    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)) or v is None:
        return str(v if v is None else bool(v))
    if isinstance(v, (complex, np.complexfloating)):
        raise ValueError(f"figure data must be real, got {v!r}")
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, mpmath.mpf):
        return mpmath.nstr(v, 30, strip_zeros=False)
    return repr(float(v))  # numpy scalars too: their repr would name the type


def figure_csv(data: Mapping[str, Sequence]) -> str:
    """CSV text of equal-length columns; floats written in full (repr), mpf to 30 digits."""
    if not data:
        raise ValueError("figure data must have at least one column")
    for k, v in data.items():
        if isinstance(v, (str, bytes)) or np.ndim(v) != 1:
            raise ValueError(f"figure data column {k!r} must be a 1-d sequence, got {type(v).__name__}")
    columns = {str(k): list(v) for k, v in data.items()}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"figure data columns must have equal lengths, got { {k: len(v) for k, v in columns.items()} }")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*([_cell(x) for x in v] for v in columns.values())))
    return out.getvalue()


def proof_claim(check) -> Claim:
    """The claim that every exact value a chapter shows lies in its proven enclosure
    (:func:`l2lcore.quadratic.proof.check`): a consistency check of the exact arithmetic, by an
    independent algorithm in ball arithmetic."""
    outside = ", ".join(f"{q} at eta = {e}, t = {t}" for q, e, t in check.outside[:3])
    return Claim("every exact value this chapter shows lies in its proven enclosure (Arb ball arithmetic) to the "
                 "digits it is shown or certified with",
                 f"{check.proven} of {check.count} exact values proven" + (f"; outside: {outside}" if outside else ""),
                 check.proven == check.count, "", CONSISTENCY, cases=check.count, tag=PROVEN_VALUES)
