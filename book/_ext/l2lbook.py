"""Sphinx extension: what the companion adds to Jupyter Book.

* ``{claim}`3``` links to claim 3 of the chapter's claims table (its row has ``id="claim-3"``).
* ``{figdata}`theorem4-figure1``` (in a ``{glue:figure}`` caption) gives the figure's image and
  its plotted numbers: the CSV glued as ``theorem4-figure1-data`` is written to
  ``_figdata/theorem4-figure1.csv``, and the image link points at the figure's own image file.
* Freshness: a chapter is re-executed when the ``l2lcore`` files it imports (transitively, see
  :mod:`l2lcore.book.deps`) change, and only then; the execution cache already re-executes a
  chapter whose own code changed.
* ``{claims-overview}`` (the "Results at a glance" page) is replaced by a table of every claim of
  every chapter, collected from the claims tables the chapters' notebooks output in this same
  build, grouped by the paper's statements, so it cannot disagree with them.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

PAYLOAD = re.compile(r'<script type="application/json" class="l2l-claims">(.*?)</script>', re.S)
VERDICT_MARK = {"reproduced": "&#10004; reproduced", "not reproduced": "&#10008; <strong>not reproduced</strong>",
                "not tested": "&#8212; not tested"}


# --------------------------------------------------------------------------- claims


class ClaimRole(SphinxRole):
    """``{claim}`3```: a link to row 3 of this chapter's claims table."""

    def run(self):
        if not self.text.strip().isdigit():
            msg = self.inliner.reporter.error(f"claim role needs a claim number, got {self.text!r}", line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        n = int(self.text)
        ref = nodes.reference(self.rawtext, f"claim {n}", refuri=f"#claim-{n}", internal=True)
        ref["classes"].append("claim-ref")
        return [ref], []


class claims_overview(nodes.General, nodes.Element):
    """Placeholder for the table of every chapter's claims."""


class ClaimsOverview(SphinxDirective):
    def run(self):
        self.env.note_dependency(__file__)
        return [claims_overview()]


def _collect_claims(app, doctree):
    """Keep the claims payload of each chapter's executed claims table."""
    found = []
    for raw in doctree.findall(nodes.raw):
        found += [json.loads(m.replace("<\\/", "</")) for m in PAYLOAD.findall(raw.astext())]
    store = app.env.__dict__.setdefault("l2l_claims", {})
    store.pop(app.env.docname, None)
    # the same table may appear in several mime renderings of one output: keep one per slug
    unique = {p["slug"]: p for p in found}
    if unique:
        store[app.env.docname] = list(unique.values())


def _purge(app, env, docname):
    env.__dict__.setdefault("l2l_claims", {}).pop(docname, None)
    env.__dict__.setdefault("l2l_figdata", {}).pop(docname, None)
    env.__dict__.setdefault("l2l_dep_hash", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    for key in ("l2l_claims", "l2l_figdata", "l2l_dep_hash"):
        env.__dict__.setdefault(key, {}).update(
            {d: v for d, v in other.__dict__.get(key, {}).items() if d in docnames})


def _overview_outdated(app, env, added, changed, removed):
    """The overview reads every chapter: rebuild it whenever any page is re-read."""
    if not (added or changed or removed):
        return []
    return [d for d in env.found_docs if "{claims-overview}" in Path(env.doc2path(d)).read_text()]


def _overview_html(env, docname, builder) -> str:
    store = env.__dict__.get("l2l_claims", {})
    reading = _reading_order(env)
    payloads = [(d, p) for d in reading for p in store.get(d, [])]
    e = html.escape
    summary_rows, detail = [], []
    for doc, p in payloads:
        uri = builder.get_relative_uri(docname, doc)
        title = e(env.titles[doc].astext()) if doc in env.titles else e(doc)
        counts = {v: sum(s["verdict"] == v for s in p["statements"]) for v in VERDICT_MARK}
        evidence = [c for c in p["claims"] if c["kind"] == "evidence"]
        summary_rows.append(
            f'<tr><td><a href="{uri}">{title}</a></td><td>{len(p["statements"])}</td>'
            f'<td>{counts["reproduced"]}</td><td>{counts["not reproduced"]}</td><td>{counts["not tested"]}</td>'
            f'<td>{len(evidence)} + {len(p["claims"]) - len(evidence)}</td></tr>')
        rows = []
        own = {"key": "", "source": "The companion", "text": "its own computations (not a statement of the paper)",
               "verdict": "not tested"}
        groups = p["statements"] + ([own] if any(c["statement"] == "" for c in p["claims"]) else [])
        for s in groups:
            claims = [c for c in p["claims"] if c["statement"] == s["key"]] or [None]
            for j, c in enumerate(claims):
                mark = f'<br><small>{VERDICT_MARK[s["verdict"]]}</small>' if s["key"] else ""
                head = (f'<td rowspan="{len(claims)}">{e(s["source"])}: {e(s["text"])}{mark}</td>') if j == 0 else ""
                if c is None:
                    rows.append(f"<tr>{head}<td colspan=\"3\">no claim</td></tr>")
                    continue
                why = f'<br><small>{e(c["reason"])}</small>' if c["reason"] else ""
                rows.append(
                    f'<tr>{head}<td><a href="{uri}#claim-{c["number"]}">claim {c["number"]}</a>: '
                    f'{e(c["claim"])}</td><td>{e(c["kind"])}</td><td>{VERDICT_MARK[c["verdict"]]}{why}</td></tr>')
        detail.append(
            f'<h3 id="overview-{e(p["slug"])}"><a href="{uri}">{title}</a></h3>'
            '<table class="claims-overview"><thead><tr><th>the paper\'s statement</th><th>claim</th>'
            f'<th>kind</th><th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    proven = [c for _, p in payloads for c in p["claims"] if c.get("tag") == "proven-values"]
    total = sum(c.get("cases") or 0 for c in proven)
    held = sum(c.get("cases") or 0 for c in proven if c["verdict"] == "reproduced")
    proven_line = (f'<p class="proven-values">Exact values shown in this build and checked against proven '
                   f'enclosures: {held} of {total} (chapters that show exact values: {len(proven)}).</p>') if proven else ""
    if payloads:
        total = {v: sum(sum(s["verdict"] == v for s in p["statements"]) for _, p in payloads) for v in VERDICT_MARK}
        n_claims = sum(len(p["claims"]) for _, p in payloads)
        n_evidence = sum(c["kind"] == "evidence" for _, p in payloads for c in p["claims"])
        summary_rows.append(
            f'<tr class="claims-total"><td>all chapters (a statement two chapters test counts in each)</td>'
            f'<td>{sum(total.values())}</td><td>{total["reproduced"]}</td><td>{total["not reproduced"]}</td>'
            f'<td>{total["not tested"]}</td><td>{n_evidence} + {n_claims - n_evidence}</td></tr>')
    return (
        proven_line + '<table class="claims-summary"><thead><tr><th>chapter</th><th>statements</th><th>reproduced</th>'
        '<th>not reproduced</th><th>not tested</th><th>claims (evidence + consistency)</th></tr></thead>'
        f'<tbody>{"".join(summary_rows)}</tbody></table>' + "".join(detail))


def _reading_order(env) -> list[str]:
    order, seen = [], set()

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return order


def _fill_overview(app, doctree, docname):
    for node in list(doctree.findall(claims_overview)):
        if app.builder.format != "html":
            node.replace_self([])
            continue
        node.replace_self(nodes.raw("", _overview_html(app.env, docname, app.builder), format="html"))


# --------------------------------------------------------------------------- reproducibility


class ReproducibilityTable(SphinxDirective):
    """``{reproducibility-table} path.csv``: the runs of benchmarks/scales.py as a readable table."""

    required_arguments = 1

    def run(self):
        import csv

        rel, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(rel)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        e = html.escape

        def verdicts(r):
            if not r.get("claims"):
                return ""
            return (f'{r["reproduced"]} / {r["not_reproduced"]} / {r["not_tested"]} of {r["claims"]}; '
                    f'{r["as_expected"]} as expected at the book\'s defaults')

        def minutes(r):
            s = r.get("wall_s") or ""
            return f"{int(float(s)) // 60}:{int(float(s)) % 60:02d}" if s else ""

        body = "".join(
            f'<tr><td><a href="{e(r["chapter"])}.html">{e(r["chapter"])}</a></td><td>{e(r["scale"])}</td>'
            f'<td>{e(r["status"])}</td><td>{minutes(r)}</td><td>{e(r.get("peak_mib") or "")}</td>'
            f'<td>{verdicts(r)}</td><td>{e(r.get("date", ""))}, commit {e(r.get("commit", ""))}</td></tr>'
            for r in rows)
        machines = sorted({(r.get("machine", ""), r.get("cores", ""), r.get("python", ""), r.get("numpy", ""),
                            r.get("mpmath", ""), r.get("jax", ""), r.get("python_flint", "")) for r in rows})
        env = "; ".join(f"{m} with {c} cores, Python {py}, numpy {n}, mpmath {mp}, JAX {j}, python-flint {fl}"
                        for m, c, py, n, mp, j, fl in machines)
        table = (
            '<table class="claims-summary"><thead><tr><th>chapter</th><th>scale</th><th>status</th>'
            '<th>wall time (min:s)</th><th>peak memory (MiB)</th>'
            '<th>claims: reproduced / not reproduced / not tested</th><th>run</th></tr></thead>'
            f'<tbody>{body}</tbody></table><p class="claims-caption">Machine and packages: {e(env)}.</p>')
        return [nodes.raw("", table, format="html")]


# --------------------------------------------------------------------------- figure data


class figdownload(nodes.Inline, nodes.Element):
    """Links to a figure's image and its CSV; the image's address is known only when written."""


class FigdataRole(SphinxRole):
    """``{figdata}`name```: store the CSV glued as ``name-data`` and link it with the image."""

    def run(self):
        from myst_nb.ext.glue.utils import retrieve_glue_data

        name = self.text.strip()
        try:
            data = retrieve_glue_data(self.inliner.document, f"{name}-data")
        except Exception as exc:  # a missing key: a clear error, not a silent gap
            msg = self.inliner.reporter.error(f"figdata: no glued data {name + '-data'!r} ({exc})", line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        if "text/csv" not in data.data:
            msg = self.inliner.reporter.error(f"figdata: {name + '-data'!r} has no text/csv", line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        self.env.__dict__.setdefault("l2l_figdata", {}).setdefault(self.env.docname, {})[name] = data.data["text/csv"]
        return [figdownload(name=name)], []


def _visit_figdownload(self, node):
    figure = node.parent
    while figure is not None and not isinstance(figure, nodes.figure):
        figure = figure.parent
    images = list(figure.findall(nodes.image)) if figure is not None else []
    if not images:
        raise ValueError(f"figdata {node['name']!r} is not in the caption of a figure with an image")
    depth = self.builder.current_docname.count("/")
    prefix = "../" * depth
    name = node["name"]
    self.body.append(
        f' <span class="figdata">Download: <a class="reference download" href="{images[0]["uri"]}" '
        f'download="{name}.png">image (PNG)</a> &middot; <a class="reference download" '
        f'href="{prefix}_figdata/{name}.csv" download>plotted data (CSV)</a></span>')
    raise nodes.SkipNode


def _skip(self, node):
    raise nodes.SkipNode


def _write_figdata(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir) / "_figdata"
    out.mkdir(exist_ok=True)
    for figures in app.env.__dict__.get("l2l_figdata", {}).values():
        for name, text in figures.items():
            (out / f"{name}.csv").write_text(text)


# --------------------------------------------------------------------------- freshness


def _notebook_sources(env):
    for doc in sorted(env.found_docs):
        path = Path(env.doc2path(doc))
        if path.suffix == ".md" and "kernelspec" in path.read_text()[:2000]:
            yield doc, path


def _stale_chapters(app, env, added, changed, removed):
    """Chapters whose l2lcore dependencies changed since they were executed: drop their cached
    outputs and read them again."""
    from l2lcore.book.deps import dependency_hash

    known = env.__dict__.setdefault("l2l_dep_hash", {})
    stale = []
    for doc, path in _notebook_sources(env):
        h = dependency_hash(path)
        app.env.__dict__.setdefault("l2l_dep_hash_now", {})[doc] = h
        if doc in added or known.get(doc) == h:
            continue
        stale.append(doc)
        _forget_outputs(app, path)
    if stale:
        logger.info(f"l2lcore changed under {stale}: executing them afresh")
    return stale


def _forget_outputs(app, path):
    import jupytext
    from jupyter_cache import get_cache

    cache_path = app.env.mystnb_config.execution_cache_path
    if not cache_path or not Path(cache_path).exists():
        return
    cache = get_cache(cache_path)
    try:
        record = cache.match_cache_notebook(jupytext.read(path))
    except KeyError:
        return
    cache.remove_cache(record.pk)


def _note_dep_hash(app, doctree):
    now = app.env.__dict__.get("l2l_dep_hash_now", {})
    if app.env.docname in now:
        app.env.__dict__.setdefault("l2l_dep_hash", {})[app.env.docname] = now[app.env.docname]


# --------------------------------------------------------------------------- offline MathJax


def _copy_mathjax(app, exception):
    """MathJax from the sphinx-mathjax-offline wheel, so pages typeset math with no network."""
    if exception is not None or app.builder.format != "html":
        return
    import importlib.util

    from sphinx.util.fileutil import copy_asset

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    source = Path(spec.origin).parent / "static" / "mathjax"
    copy_asset(str(source), str(Path(app.outdir) / "_static" / "mathjax"))


def _offline_mathjax_path(app, config):
    config.mathjax_path = "mathjax/tex-chtml.js"  # relative to _static


def _tidy_scripts(app, pagename, templatename, context, doctree):
    """Drop the scripts the theme's extensions register twice (a second `const THEBE_JS_URL` is
    a console error), keeping the first of each."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (getattr(js, "filename", str(js)) or "",  # None and "" both mean an inline script
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items() if k != "priority")))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"][:] = kept  # in place: handlers after this one still add to the same list


#: The theme reads its colour mode from localStorage and reports an empty one (a first visit) as
#: a console error; a first visit gets "auto", which is what the theme falls back to anyway.
DEFAULT_MODE = "if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = 'auto'; }"


def _static_path(app, config):
    # relative to the configuration directory, so that builds in two checkouts are identical
    # (the path enters the configuration hash in .buildinfo)
    config.html_static_path.append(os.path.relpath(Path(__file__).parent / "static", app.confdir))


def setup(app):
    app.connect("config-inited", _static_path)
    app.add_css_file("l2lbook.css")
    app.add_js_file(None, body=DEFAULT_MODE, priority=100)
    app.connect("html-page-context", _tidy_scripts, priority=100)  # before a handler that returns a template
    app.add_role("claim", ClaimRole())
    app.add_role("figdata", FigdataRole())
    app.add_node(claims_overview)
    app.add_node(figdownload, html=(_visit_figdownload, None), latex=(_skip, None), text=(_skip, None),
                 man=(_skip, None), texinfo=(_skip, None))
    app.add_directive("claims-overview", ClaimsOverview)
    app.add_directive("reproducibility-table", ReproducibilityTable)
    app.connect("doctree-read", _collect_claims)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _stale_chapters)
    app.connect("env-get-outdated", _overview_outdated)
    app.connect("doctree-read", _note_dep_hash)
    app.connect("doctree-resolved", _fill_overview)
    app.connect("build-finished", _write_figdata)
    app.connect("build-finished", _copy_mathjax)
    app.connect("config-inited", _offline_mathjax_path)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
