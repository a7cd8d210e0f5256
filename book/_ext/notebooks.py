"""Sphinx extension: every MyST-notebook chapter as a plain .ipynb next to the HTML.

Readers download ``_notebooks/<chapter>.ipynb`` from each chapter's footer or from the
header's download menu; the file opens in plain Jupyter without jupytext. It holds the
chapter's source cells (not the outputs), so running it recomputes everything, starting
from the ``parameters`` cell. The header menu's raw-Markdown entry is replaced by it (and
dropped on pages that are not notebooks), so no download gives MyST source.
"""
from pathlib import Path

import jupytext


def _notebook_source(app, docname):
    """The chapter's MyST-notebook source file, or None for a plain page."""
    source = Path(app.env.doc2path(docname))
    if source.suffix == ".md" and "kernelspec" in source.read_text()[:2000]:
        return source
    return None


def _write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir) / "_notebooks"
    outdir.mkdir(exist_ok=True)
    for docname in sorted(app.env.found_docs):
        source = _notebook_source(app, docname)
        if source is None:
            continue
        nb = jupytext.read(source)
        nb.metadata.pop("jupytext", None)
        for i, cell in enumerate(nb.cells):  # nbformat draws random ids; rebuilds must not differ
            cell.id = f"cell-{i}"
        jupytext.write(nb, outdir / f"{source.stem}.ipynb", fmt="ipynb")


def _header_download(app, pagename, templatename, context, doctree):
    """Point the theme's download menu at the .ipynb instead of the Markdown source."""
    if pagename not in app.env.found_docs:
        return
    source = _notebook_source(app, pagename)
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        buttons = [b for b in group["buttons"] if b.get("label") != "download-source-button"]
        if source is not None:
            buttons.insert(0, {
                "type": "link",
                "url": f'{context["pathto"]("_notebooks", 1)}/{source.stem}.ipynb',
                "text": ".ipynb",
                "icon": "fas fa-code",
                "tooltip": "Download this chapter as a Jupyter notebook",
                "label": "download-notebook-button",
            })
        group["buttons"] = buttons


def setup(app):
    app.connect("build-finished", _write_notebooks)
    app.connect("html-page-context", _header_download, priority=900)  # after the theme's (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
