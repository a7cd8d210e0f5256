"""Every chapter follows one template (shared/style CHAPTER.md), in this order:

title; one hand-written paragraph; the folded ``parameters`` cell; the setup cell that calls
``book.start("<slug>", globals())``; the theorem block; "What it means"; evidence sections, each
with a numbered, captioned figure whose caption links its data; "Claims checked" with
``run.claims(...)``; the footer ``run.footer()``. Code cells stay short and hold no plotting or
gluing: that lives in the chapter's module.
"""
import re
from pathlib import Path

import jupytext
import pytest

from l2lcore.book import CHAPTERS

ROOT = Path(__file__).resolve().parents[2]
CHAPTER_SLUGS = [c.slug for c in CHAPTERS if c.has_result]
MAX_CELL_LINES = 15
#: Plotting and gluing belong in the chapter's module, sentences are written by hand.
FORBIDDEN_IN_CELLS = (r"\bglue\(", r"\bplt\.", r"\bax\.", r"\baxes\[", r"\bMarkdown\(", r"\bset_xlabel\(",
                      r"\bimport matplotlib", r"\bfrom matplotlib", r"\bfrom myst_nb\b", r"\bHTML\(",
                      r"\bdisplay\(", r"\.plot\((?!\s*\w+\s*=)(?!\))")  # an object's own .plot(key=...) is fine


def check_template(slug: str, text: str) -> None:
    """Raise AssertionError describing the first way ``text`` (a chapter's MyST source) breaks
    the template."""
    title = next(c.title for c in CHAPTERS if c.slug == slug)
    nb = jupytext.reads(text, fmt="md:myst")
    cells = nb.cells
    kinds = [c.cell_type for c in cells]
    code = [i for i, k in enumerate(kinds) if k == "code"]
    assert len(code) >= 4, "a chapter has parameters, setup, claims and footer cells at least"
    first_md = cells[0].source if kinds[0] == "markdown" else ""
    assert first_md.startswith(f"# {title}\n"), f"starts with the title '# {title}'"
    intro = first_md.split("\n", 1)[1].strip()
    assert intro and not intro.startswith((":::", "```", "#")), "one hand-written paragraph after the title"
    params, setup = cells[code[0]], cells[code[1]]
    assert code[0] == 1, "the parameters cell follows the title and paragraph"
    tags = params.metadata.get("tags", [])
    assert "parameters" in tags and "hide-input" in tags, "the parameters cell is tagged parameters, hide-input"
    assert re.search(r"^scale\s*=", params.source, re.M), "the parameters cell sets scale"
    assert code[1] == code[0] + 1, "the setup cell follows the parameters cell"
    setup_code = "\n".join(line.split("#", 1)[0] for line in setup.source.splitlines())
    assert f'book.start("{slug}", globals())' in setup_code, "the setup cell calls book.start"
    assert "hide-input" in setup.metadata.get("tags", []), "the setup cell is folded"
    markdown = "\n".join(c.source for c in cells[code[1] + 1:] if c.cell_type == "markdown")
    headings = re.findall(r"^## (.+)$", markdown, re.M)
    assert headings and headings[0] == "What it means", "the first section is 'What it means'"
    assert headings[-1] == "Claims checked", "the last section is 'Claims checked'"
    assert len(headings) >= 3, "at least one evidence section"
    before_meaning = markdown.split("## What it means", 1)[0]
    assert re.search(r"^:{3,}\{prf:(theorem|corollary|lemma|proposition|observation)\}", before_meaning, re.M), \
        "the theorem block comes before 'What it means'"
    # evidence sections: each has a numbered figure whose caption links its data
    sections = re.split(r"^## ", markdown, flags=re.M)[2:-1]
    for section in sections:
        name = section.split("\n", 1)[0]
        figures = [(key, (re.search(r"^:name: (\S+)$", options, re.M) or [None, None])[1], caption)
                   for key, options, caption in
                   re.findall(r"```\{glue:figure\} (\S+)\n((?::[^\n]*\n)*)(.*?)```", section, re.S)]
        assert figures, f"evidence section {name!r} has a numbered figure ({{glue:figure}} with :name:)"
        for key, label, caption in figures:
            assert key == label and key.startswith(f"{slug}-"), f"figure {key!r} is named {slug}-..., as its key"
            assert f"{{figdata}}`{key}`" in caption, f"figure {key!r}'s caption links its data with {{figdata}}"
    assert not re.search(r"\*\*\s*\{glue(:[a-z]+)?\}`[^`]*`\s*\*\*", markdown), "glued values are not bold"
    claims_cells = [i for i in code if "run.claims(" in cells[i].source]
    assert claims_cells and claims_cells[-1] == code[-2], "the claims table is the last cell before the footer"
    footer = cells[code[-1]]
    assert footer.source.strip() == "run.footer()", "the last cell is run.footer()"
    assert "remove-input" in footer.metadata.get("tags", []), "the footer's code is removed"
    for i in code[1:]:
        source = cells[i].source
        lines = [ln for ln in source.splitlines() if ln.strip()]
        assert len(lines) <= MAX_CELL_LINES, f"code cell {i} has {len(lines)} lines (at most {MAX_CELL_LINES})"
        for pattern in FORBIDDEN_IN_CELLS:
            assert not re.search(pattern, source), \
                f"code cell {i} uses {pattern!r}: plotting and gluing live in the chapter module"


@pytest.mark.parametrize("slug", CHAPTER_SLUGS)
def test_chapter_follows_the_template(slug):
    check_template(slug, (ROOT / "book" / f"{slug}.md").read_text())


def test_the_template_check_fails_on_a_chapter_that_breaks_it():
    text = (ROOT / "book" / "theorem3.md").read_text()
    check_template("theorem3", text)
    broken = {
        "no What it means": text.replace("## What it means", "## What it says"),
        "parameters not folded": text.replace("tags: [parameters, hide-input]", "tags: [parameters]"),
        "a gluing cell": text.replace("run = book.start(", 'glue("x", 1)\nrun = book.start('),
        "figure without data": re.sub(r"\{figdata\}`[^`]+`", "", text, count=1),
    }
    for what, variant in broken.items():
        assert variant != text, what
        with pytest.raises(AssertionError):
            check_template("theorem3", variant)
