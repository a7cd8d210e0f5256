"""The built book, read in a real browser with no network (headless Chromium, Debian's package).

Runs after ``make book`` (``make browser``; CI does both). Every page of ``_build/html`` is opened
from a server on localhost, with every request to another host blocked and recorded; a page fails
when a formula is left untypeset, an image does not decode, the console shows an error, the page
asks another host for anything, an internal link or anchor does not resolve, a numbered figure has
no caption, or a "Cite this chapter" box holds BibTeX that does not parse.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("L2L_HTML", ROOT / "_build" / "html"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("L2L_BROWSER_REQUIRED") == "1"


def _skip_or_fail(why: str):
    if REQUIRED:
        pytest.fail(why)
    pytest.skip(why)


def pages() -> list[str]:
    if not HTML.exists():
        return []
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(HTML)) for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        _skip_or_fail("the book is not built (run `make book` first)")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _skip_or_fail("chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _anchors(path: Path) -> set[str]:
    text = path.read_text(errors="replace")
    return set(re.findall(r'\bid="([^"]+)"', text)) | set(re.findall(r'\bname="([^"]+)"', text))


@functools.lru_cache(maxsize=None)
def _anchors_cached(path: str) -> frozenset[str]:
    return frozenset(_anchors(Path(path)))


def _bibtex_parses(text: str) -> bool:
    from pybtex.database import parse_string

    db = parse_string(text, "bibtex")
    return len(db.entries) >= 1


@pytest.mark.parametrize("page", pages() or ["index.html"])
def test_page_renders_completely_offline(page, server, browser):
    context = browser.new_context()
    foreign, errors = [], []

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            return r.continue_()
        foreign.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    redirect = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', (HTML / page).read_text(), re.I)
    if redirect:  # the root page only forwards to the first chapter
        assert (HTML / page).parent.joinpath(redirect.group(1)).exists(), f"{page} forwards to a missing page"
        context.close()
        return
    tab.goto(f"{server}/{page}", wait_until="load")
    # MathJax typesets after load; wait until it says it is done (pages without math have none)
    if "mathjax/tex-chtml.js" in (HTML / page).read_text():
        # the deferred script replaces the configuration object window.MathJax when it loads;
        # its startup promise resolves once the page is typeset
        tab.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                              timeout=60_000)
        tab.evaluate("() => MathJax.startup.promise.then(() => true)")
    problems = []
    if foreign:
        problems.append(f"requests to other hosts: {sorted(set(foreign))[:5]}")
    if errors:
        problems.append(f"console errors: {errors[:5]}")
    visible = tab.inner_text("article") if tab.query_selector("article") else tab.inner_text("body")
    for raw in (r"\(", r"\[", "$$"):
        if raw in visible:
            i = visible.index(raw)
            problems.append(f"untypeset math {raw!r}: ...{visible[max(0, i - 40):i + 40]!r}...")
    broken = tab.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    if broken:
        problems.append(f"images that do not decode: {broken[:5]}")
    uncaptioned = tab.eval_on_selector_all(
        "figure", "fs => fs.filter(f => f.querySelector('.caption-number') && "
                  "!(f.querySelector('figcaption') && f.querySelector('figcaption').innerText.replace(/^\\s*Figure [\\d.]+\\s*/, '').trim().length > 20))"
                  ".map(f => f.id)")
    if uncaptioned:
        problems.append(f"numbered figures without a caption: {uncaptioned}")
    for bib in tab.eval_on_selector_all(".admonition.tip pre", "ps => ps.map(p => p.innerText)"):
        if "@" in bib and not _bibtex_parses(bib):
            problems.append(f"cite box BibTeX does not parse: {bib[:80]!r}")
    here = HTML / page
    for href in tab.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))"):
        parsed = urlparse(href)
        if parsed.scheme or href.startswith(("mailto:", "//")):
            continue  # external links are links, not loads; they are never requested
        target, fragment = urldefrag(href)
        path = (here.parent / unquote(target)).resolve() if target else here
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            problems.append(f"broken link {href!r}")
        elif fragment and path.suffix == ".html" and unquote(fragment) not in _anchors_cached(str(path)):
            problems.append(f"broken anchor {href!r}")
    context.close()
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_every_numbered_figure_offers_its_image_and_data():
    if not HTML.exists():
        _skip_or_fail("the book is not built (run `make book` first)")
    for page in pages():
        text = (HTML / page).read_text()
        for figure in re.findall(r'<figure class="[^"]*" id="([^"]+)">(.*?)</figure>', text, re.S):
            fig_id, body = figure
            if "caption-number" not in body:
                continue
            assert 'download="' in body and "_figdata/" in body, f"{page}#{fig_id}: no image/data download"
            csv = re.search(r'href="([^"]*_figdata/[^"]+\.csv)"', body).group(1)
            assert (HTML / page).parent.joinpath(csv).resolve().exists(), f"{page}#{fig_id}: {csv} missing"
