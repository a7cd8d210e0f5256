"""Which files of a package a chapter's code depends on, so rebuilds redo only what changed.

A chapter imports some ``l2lcore`` modules; each of those imports others (relative imports
included, lazy imports inside functions too: the analysis is conservative). The closure of
those files, with the ``__init__.py`` of every package on the way (importing a submodule runs
them), is the chapter's dependency set, and the hash of their contents is its
:func:`dependency_hash`. The book's extension re-executes a chapter when that hash changes,
and only then (the execution cache already re-executes a chapter whose own code changed).
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(code: str, current: str = "", is_package: bool = False) -> set[str]:
    """Absolute names of what ``code`` imports (``from a import b`` gives both a and a.b, since
    b may be a submodule); ``current`` is the importing module, for relative imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = current.split(".") if is_package else current.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)  # importlib.import_module("l2lcore.x") with a literal name
    return {n for n in names if n}


def closure(code: str, package: str, root: Path) -> list[Path]:
    """The files of ``package`` (under ``root``) that ``code`` imports, transitively, with the
    ``__init__.py`` of every package on the way."""
    seen: dict[Path, None] = {}
    todo = sorted(n for n in imported_names(code) if n == package or n.startswith(package + "."))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the parents' __init__ run first
            path = _module_file(".".join(parts[:i]), root)
            if path is None or path in seen:
                continue
            seen[path] = None
            module = _module_name(path, root)
            todo += [n for n in imported_names(path.read_text(), module, path.name == "__init__.py")
                     if (n == package or n.startswith(package + ".")) and n != module]
    return sorted(seen)


def notebook_code(source: Path) -> str:
    """The code cells of a MyST notebook as Python (IPython's own transformer turns magics,
    shell escapes and help syntax into calls), joined; jupytext reads the format."""
    import jupytext

    return "\n".join(imported_code(c.source) for c in jupytext.read(source).cells if c.cell_type == "code")


def imported_code(cell: str) -> str:
    """One cell's source as Python: IPython's transformer turns magics, shell escapes and help
    syntax into calls (a cell magic's body is the magic's argument, not code)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


def dependency_hash(source: Path, package: str = "l2lcore", root: Path | None = None) -> str:
    """sha256 over the names and contents of the package files a chapter depends on, and of the
    recorded data it reads (``_data/<chapter>-*`` next to its source, e.g. a recorded run)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    source = Path(source)
    h = hashlib.sha256()
    for path in closure(notebook_code(source), package, root):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in sorted((source.parent / "_data").glob(f"{source.stem}-*")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()
