"""The book's plumbing: table of contents, chapter conventions, citation metadata."""
import re
from pathlib import Path

import pytest
import yaml

import l2lcore
from l2lcore.book import CHAPTERS, PAPER_BIBTEX, chapter_bibtex, cite_box
from l2lcore.book.claims import Claim, claims_table

ROOT = Path(__file__).resolve().parents[2]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_toc_lists_every_registered_chapter_and_nothing_unregistered():
    registered = {f"book/{c.slug}" for c in CHAPTERS}
    listed = set(toc_files()) - {"book/references"}
    assert listed == registered
    for f in toc_files():
        assert (ROOT / f"{f}.md").exists(), f


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.slug)
def test_chapter_conventions(chapter):
    text = (ROOT / "book" / f"{chapter.slug}.md").read_text()
    assert text.startswith("---\njupytext:"), "a MyST notebook with a jupytext header"
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S)
    assert cells[-1].strip().endswith(f'chapter_footer("{chapter.slug}")'), "ends with its footer"
    if chapter.slug != "intro":
        assert cells[0].startswith(":tags: [parameters]"), "first code cell is the parameters cell"
        assert "claims_table(" in text, "ends with a claims table"
    assert f"# {chapter.title}" in text


def test_paper_bibtex_is_the_entry_in_references_bib():
    assert PAPER_BIBTEX in (ROOT / "references.bib").read_text()


def test_chapter_bibtex_carries_title_result_version_and_anchor():
    entry = chapter_bibtex("theorem4")
    assert "Theorem 4" in entry and l2lcore.__version__ in entry and "book/theorem4.html" in entry
    assert "wang21ac" in cite_box("theorem4")._repr_markdown_()
    with pytest.raises(ValueError, match="unknown chapter"):
        chapter_bibtex("theorem9")


def test_citation_cff_is_valid_and_versioned():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version"):
        assert key in cff
    assert cff["version"] == l2lcore.__version__
    assert cff["references"][0]["title"].startswith("Guarantees for Tuning the Step Size")
    assert f'version = "{l2lcore.__version__}"' in (ROOT / "pyproject.toml").read_text()


def test_claims_table_renders_and_rejects_bad_input():
    table = claims_table([Claim("x > 0", "x = 1", True), Claim("y > 0", "y = -1", False)])
    assert not table.all_hold and "<table" in table._repr_html_() and "NO" in repr(table)
    with pytest.raises(ValueError, match="at least one"):
        claims_table([])
    with pytest.raises(ValueError, match="Claim objects"):
        claims_table(["x"])
