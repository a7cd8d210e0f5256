"""Rerun any chapter of the book from the command line: ``python -m l2lcore`` (or ``l2l``).

    l2l list                                  the chapters, what each reproduces, its parameters
    l2l run CHAPTER [--scale book|paper|long] [--set NAME=VALUE ...] [--out DIR] [--force]

``run`` injects the parameters into the chapter's ``parameters`` cell with papermill, executes
the chapter (progress: cell k of n and the elapsed time, on a terminal), writes the executed
``CHAPTER.ipynb`` and a standalone ``CHAPTER.html`` into ``--out`` (default ``runs/CHAPTER``),
and prints the claims table's verdicts. Values are Python literals (``--set seed=1``,
``--set eta_L=[0.5,2.5]``); a bare word is a string. The defaults and the names come from the
chapter's own ``parameters`` cell, so they cannot drift from the book.

Exit status: 0 when the run finished and no claim came out "not reproduced" unless that was
its expected verdict at the book's defaults (the book's honest disagreements with the paper do
not fail a rerun); 1 when a claim failed; 2 for bad input (an unknown chapter, parameter or
scale, a value of the wrong kind, an output path that is a file, or an existing non-empty
output directory without ``--force``), before anything runs; 3 when a cell raised (a value of
the right kind but outside its chapter's rules is reported this way, by the chapter's own
check, with the partly executed notebook kept in the output directory).
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import time
from pathlib import Path

from . import book
from .book.claims import NOT_REPRODUCED, PAYLOAD_CLASS

PAYLOAD = re.compile(rf'<script type="application/json" class="{PAYLOAD_CLASS}">(.*?)</script>', re.S)


class UsageError(ValueError):
    """Bad input on the command line (exit status 2)."""


def runnable() -> list[book.Chapter]:
    """The chapters with a ``parameters`` cell."""
    return [c for c in book.CHAPTERS if (book.BOOK_DIR / f"{c.slug}.md").exists()
            and c.has_result]


def parse_value(text: str):
    """A Python literal (number, string, list, tuple, bool, None), or the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def overrides(slug: str, scale: str | None, sets: list[str]) -> dict:
    """The parameter values to inject, checked against the chapter's parameters cell."""
    names = [c.slug for c in runnable()]
    if slug not in names:
        raise UsageError(f"unknown chapter {slug!r}; choose one of {names}")
    defaults = book.parameters(slug)
    values = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set takes NAME=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        name = name.strip()
        if name not in defaults:
            raise UsageError(f"unknown parameter {name!r} of chapter {slug!r}; valid: {sorted(defaults)}")
        value = parse_value(text)
        if not book._same_kind(value, defaults[name]):
            raise UsageError(f"parameter {name!r} must be of the kind of its default {defaults[name]!r} "
                             f"({type(defaults[name]).__name__}), got {value!r}")
        values[name] = value
    if scale is not None:
        if "scale" in values and values["scale"] != scale:
            raise UsageError("--scale and --set scale=... disagree")
        values["scale"] = scale
    scales = book.chapter(slug).scales
    if values.get("scale", defaults.get("scale")) not in scales:
        raise UsageError(f"scale must be one of {scales}, got {values.get('scale')!r}")
    return values


def claims_of(notebook) -> list[dict]:
    """The claims payloads in an executed notebook's outputs."""
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            for m in PAYLOAD.findall(html):
                payload = json.loads(m.replace("<\\/", "</"))
                found[payload["slug"]] = payload
    return list(found.values())


def _print_list(out) -> None:
    for c in runnable():
        print(f"{c.slug}: {c.title}  (reproduces {c.reproduces})", file=out)
        for name, value in book.parameters(c.slug).items():
            print(f"    {name} = {value!r}", file=out)


def _run(args, out) -> int:
    values = overrides(args.chapter, args.scale, args.set or [])
    target = Path(args.out) if args.out else Path("runs") / args.chapter
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {str(target)!r} is a file, not a directory")
    if target.exists() and any(target.iterdir()) and not args.force:
        raise UsageError(f"output directory {str(target)!r} exists and is not empty; "
                         "choose another --out or pass --force to overwrite it")
    import jupytext
    import nbformat
    import papermill

    target.mkdir(parents=True, exist_ok=True)
    source = book.BOOK_DIR / f"{args.chapter}.md"
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    unexecuted = target / f"{args.chapter}.input.ipynb"
    executed = target / f"{args.chapter}.ipynb"
    nbformat.write(nb, unexecuted)
    print(f"running {args.chapter} with {values or 'the book defaults'} -> {executed}", file=out)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(unexecuted), str(executed), parameters=values, cwd=str(book.BOOK_DIR),
                                   kernel_name="python3", progress_bar=sys.stderr.isatty(), log_output=False)
    except papermill.PapermillExecutionError as exc:
        print(f"a cell failed after {time.perf_counter() - start:.0f} s: {exc.ename}: {exc.evalue} "
              f"(the partly executed notebook is {executed})", file=out)
        return 3
    finally:
        unexecuted.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    from nbconvert import HTMLExporter

    result = nbformat.read(executed, as_version=4)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(result)
    (target / f"{args.chapter}.html").write_text(html)
    failed = 0
    for payload in claims_of(result):
        for c in payload["claims"]:
            flag = c["verdict"] == NOT_REPRODUCED and c["expected"] != NOT_REPRODUCED
            failed += flag
            print(f"[{c['verdict']:>14}] {c['number']:2d}. {c['claim']}: {c['measured']}"
                  + (f" ({c['reason']})" if c["reason"] else "") + ("  <- unexpected" if flag else ""), file=out)
    print(f"done in {elapsed:.0f} s; {executed} and {args.chapter}.html written", file=out)
    return 1 if failed else 0


def main(argv=None, out=None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="l2l", description="Rerun the chapters of the l2lcore companion book.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the chapters and their parameters")
    run = sub.add_parser("run", help="execute one chapter with other parameters")
    run.add_argument("chapter")
    run.add_argument("--scale", help=f"one of {book.SCALES}, and 'long' for the learned chapter")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="a parameter value (repeatable)")
    run.add_argument("--out", help="output directory (default runs/CHAPTER)")
    run.add_argument("--force", action="store_true", help="overwrite a non-empty output directory")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors exit 2 already
        return int(exc.code or 0)
    try:
        if args.command == "list":
            _print_list(out)
            return 0
        return _run(args, out)
    except UsageError as exc:
        print(f"l2l: error: {exc}", file=sys.stderr)
        return 2
