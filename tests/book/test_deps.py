"""Rebuilds redo only what changed: a chapter's dependency hash covers exactly the package files
it imports, transitively."""
import textwrap
from pathlib import Path

from l2lcore.book import CHAPTERS, deps

ROOT = Path(__file__).resolve().parents[2]


def tiny_book(tmp_path):
    """pkg: a imports b (relatively), b imports c lazily inside a function, d stands alone."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "def f():\n    from .c import g\n    return g()\n",
        "pkg/c.py": "def g():\n    return 1\n",
        "pkg/d.py": "x = 1\n",
        "chapter.md": textwrap.dedent("""\
            ---
            kernelspec:
              display_name: Python 3
              language: python
              name: python3
            ---
            # A chapter

            ```{code-cell} ipython3
            %matplotlib inline
            from pkg import a
            ```
            """),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_change_in_a_dependency_invalidates_and_a_change_elsewhere_does_not(tmp_path):
    root = tiny_book(tmp_path)
    chapter = root / "chapter.md"
    before = deps.dependency_hash(chapter, "pkg", root)
    (root / "pkg/d.py").write_text("x = 2\n")
    assert deps.dependency_hash(chapter, "pkg", root) == before, "d is not imported"
    (root / "pkg/c.py").write_text("def g():\n    return 2\n")
    after = deps.dependency_hash(chapter, "pkg", root)
    assert after != before, "c is imported lazily by b, which a imports"
    (root / "pkg/__init__.py").write_text("# edited\n")
    assert deps.dependency_hash(chapter, "pkg", root) != after, "the package's __init__ runs on import"


def test_the_least_squares_package_is_a_dependency_of_section_4_only():
    closures = {c.slug: {str(p.relative_to(ROOT)) for p in
                         deps.closure(deps.notebook_code(ROOT / "book" / f"{c.slug}.md"), "l2lcore", ROOT)}
                for c in CHAPTERS if c.notebook}
    using_lsq = {slug for slug, files in closures.items() if "l2lcore/lsq/gd.py" in files}
    assert using_lsq == {"theorem5", "theorem6", "sgd"}
    for slug, files in closures.items():
        if slug != "intro":
            assert f"l2lcore/chapters/{slug}.py" in files, slug
        assert not any(f"l2lcore/chapters/{other}.py" in files for other in ("theorem6", "learned")
                       if other != slug), slug


def test_ipython_syntax_and_import_module_are_understood(tmp_path):
    root = tiny_book(tmp_path)
    code = ("res = %time 1\nx = !ls\nprint?\n%%capture\nimport importlib\n"
            "m = importlib.import_module('pkg.d')\n")
    assert root / "pkg/d.py" in deps.closure(deps.imported_code(code), "pkg", root)
