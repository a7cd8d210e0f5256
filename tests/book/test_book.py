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


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c.notebook], ids=lambda c: c.slug)
def test_chapter_is_a_myst_notebook_with_its_title_and_footer(chapter):
    text = (ROOT / "book" / f"{chapter.slug}.md").read_text()
    assert text.startswith("---\njupytext:"), "a MyST notebook with a jupytext header"
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S)
    last = cells[-1].strip()
    assert last.endswith(f'chapter_footer("{chapter.slug}")') or last.endswith("run.footer()"), "ends with its footer"
    if chapter.slug != "intro":
        assert "parameters" in cells[0].split("\n---", 1)[0] + cells[0][:200], "first code cell is the parameters cell"
        assert "run.claims(" in text, "ends with a claims table"
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
    assert not table.all_hold and "<table" in table._repr_html_() and "not reproduced" in repr(table)
    with pytest.raises(ValueError, match="at least one"):
        claims_table([])
    with pytest.raises(ValueError, match="Claim objects"):
        claims_table(["x"])


# ----------------------------------------------------------------------------- verdicts

from l2lcore import book  # noqa: E402
from l2lcore.book.claims import (CONSISTENCY, NOT_REPRODUCED, NOT_TESTED, REPRODUCED,  # noqa: E402
                                 ClaimExpectationError, Statement, check_expectations,
                                 statement_verdict)

S = (Statement("a", "Theorem 9", "x is positive"), Statement("b", "Figure 9 (text)", "y grows"))


def test_three_verdicts_and_a_check_over_zero_cases_is_not_tested():
    assert Claim("x > 0", "x = 1", True, "a").verdict == REPRODUCED
    assert Claim("x > 0", "x = -1", False, "a", reason="budget").verdict == NOT_REPRODUCED
    assert Claim("x > 0", "out of reach", None, "a").verdict == NOT_TESTED
    vacuous = Claim("every cell right of 2/L is in range", "0 of 0", True, "a", cases=0)
    assert vacuous.verdict == NOT_TESTED and "zero cases" in vacuous.why
    assert Claim("x > 0", "x = -1", False, "a").why, "a verdict other than reproduced always has a reason"


def test_only_evidence_decides_a_statement():
    ok, bad = Claim("c", "m", True, "a"), Claim("c", "m", False, "a")
    consistency_fails = Claim("c", "m", False, "a", kind=CONSISTENCY)
    assert statement_verdict([ok, consistency_fails]) == REPRODUCED
    assert statement_verdict([ok, bad]) == NOT_REPRODUCED
    assert statement_verdict([Claim("c", "m", True, "a", kind=CONSISTENCY)]) == NOT_TESTED
    table = claims_table([ok], S, "x")
    assert table.verdict_of("b") == NOT_TESTED and table.numbers("a") == [1]


def test_claims_must_name_known_statements_and_valid_labels():
    with pytest.raises(ValueError, match="unknown statements"):
        claims_table([Claim("c", "m", True, "zzz")], S)
    with pytest.raises(ValueError, match="kind"):
        Claim("c", "m", True, "a", kind="proof")
    with pytest.raises(ValueError, match="expected"):
        Claim("c", "m", True, "a", expected="yes")
    with pytest.raises(ValueError, match="unique"):
        claims_table([Claim("c", "m", True, "a")], S + S)


def test_a_verdict_other_than_expected_fails_at_the_defaults_only():
    honest = Claim("TbV beats SGD", "84.9% vs 86.7%", False, "a", expected=NOT_REPRODUCED, reason="budget")
    surprise = Claim("x > 0", "x = -1", False, "a")
    check_expectations([honest])
    with pytest.raises(ClaimExpectationError, match="expected 'reproduced'"):
        check_expectations([honest, surprise])
    with pytest.raises(ClaimExpectationError):
        book.ChapterRun("theorem3", at_defaults=True).claims([surprise], S)
    assert book.ChapterRun("theorem3", at_defaults=False).claims([surprise], S).claims == (surprise,)


def test_a_verdict_other_than_expected_fails_the_notebook(tmp_path):
    """The book executes chapters with raise_on_error: a cell that raises fails the build."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from l2lcore import book\nfrom l2lcore.book.claims import Claim, Statement\n"
        "run = book.ChapterRun('theorem3', at_defaults=True)\n"
        "run.claims([Claim('x > 0', 'x = -1', False, 'a')], [Statement('a', 'Theorem 9', 'x > 0')])")])
    with pytest.raises(CellExecutionError, match="ClaimExpectationError"):
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()


def test_start_rejects_unknown_chapters_scales_and_badly_typed_parameters():
    defaults = book.parameters("theorem3")
    assert defaults["scale"] == "book"
    assert book.start("theorem3", dict(defaults)).at_defaults
    assert not book.start("theorem3", {**defaults, "seed": 1}).at_defaults
    with pytest.raises(ValueError, match="scale must be one of"):
        book.start("theorem3", {**defaults, "scale": "huge"})
    with pytest.raises(ValueError, match="'seed'"):
        book.start("theorem3", {**defaults, "seed": "one"})
    with pytest.raises(ValueError, match="unknown chapter"):
        book.start("theorem9", defaults)
    # the learned chapter alone has a scale between the book's and the paper's
    with pytest.raises(ValueError, match="scale must be one of"):
        book.start("theorem3", {**defaults, "scale": "long"})
    learned = book.parameters("learned")
    assert book.start("learned", {**learned, "scale": "long"}).at_defaults is False


def test_figure_data_is_csv_with_full_precision():
    import mpmath
    import numpy as np

    with mpmath.workdps(40):
        third = mpmath.mpf(1) / 3
    text = book.figure_csv({"eta": np.array([0.1, 1 / 3]), "k": [np.int64(1), 2], "exact": [third, mpmath.mpf(2)]})
    lines = text.splitlines()
    assert lines[0] == "eta,k,exact" and lines[1].startswith("0.1,1,0.3333333333333333333333333")
    assert float(lines[2].split(",")[0]) == 1 / 3
    with pytest.raises(ValueError, match="equal lengths"):
        book.figure_csv({"x": [1, 2], "y": [1]})
    with pytest.raises(ValueError, match="at least one column"):
        book.figure_csv({})
    with pytest.raises(ValueError, match="must start with"):
        book.ChapterRun("theorem3", True).figure("fig1", None, {"x": [1]})


def test_a_claim_holds_only_as_true_false_or_none():
    import numpy as np

    for bad in ("False", float("nan"), [False], 1):
        with pytest.raises(ValueError, match="holds"):
            Claim("c", "m", bad)
    assert Claim("c", "m", np.bool_(False)).holds is False
    assert Claim("c", "m", True, cases=np.int64(3)).cases == 3
    with pytest.raises(ValueError, match="cases"):
        Claim("c", "m", True, cases=True)
