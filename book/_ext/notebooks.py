"""Sphinx extension: write every MyST-notebook chapter as a plain .ipynb next to the HTML.

Readers download ``_notebooks/<chapter>.ipynb`` from each chapter's footer; the file opens
in plain Jupyter without jupytext. It holds the chapter's source cells (not the outputs),
so running it recomputes everything, starting from the ``parameters`` cell.
"""
from pathlib import Path

import jupytext


def _write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir) / "_notebooks"
    outdir.mkdir(exist_ok=True)
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".md" or "kernelspec" not in source.read_text()[:2000]:
            continue
        nb = jupytext.read(source)
        nb.metadata.pop("jupytext", None)
        jupytext.write(nb, outdir / f"{source.stem}.ipynb", fmt="ipynb")


def setup(app):
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
