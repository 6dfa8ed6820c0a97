"""The published website: a clean build without warnings, and every page checked in a real browser.

The session builds the book once from scratch (``jupyter-book build --warningiserror --keep-going``,
the README's command) into a temporary folder, serves it on 127.0.0.1 and opens every page in
headless Chromium with every request to another host blocked and recorded. The site must work
offline, so each page must load nothing from a third party, typeset all its math with the bundled
MathJax, load all its images and log no console error. Screenshots of every page land in
``_build/screenshots/`` for a human to look at.

Chromium is Debian's (``apt-get install chromium``): Playwright cannot download its own browser
here. Without it these tests fail; they never skip.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL_CHROMIUM = (
    f"Chromium not found at {CHROMIUM}. The site tests drive Debian's Chromium (Playwright cannot "
    "download a browser offline): install it with `sudo apt-get install chromium` "
    "(Debian/Ubuntu), or point the CHROMIUM environment variable at a Chromium binary."
)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
BUILD_TIMEOUT_S = 600
PAGE_TIMEOUT_MS = 30_000

# Raw TeX that MathJax should have replaced: display delimiters, \( \[ delimiters, common
# commands, or a $...$ span holding a TeX command. Code (pre/code) is removed before matching.
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\[|\\(?:frac|sum|log|mathrm|operatorname|begin|end|left|right|sigma|partial|"
    r"varepsilon|mathbb|hat|top)\b|\$[^$\n]{0,200}\\[A-Za-z]+[^$\n]{0,200}\$"
)


# --------------------------------------------------------------------------------------------
# Build


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    seconds: float
    html: Path


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build the book once, from scratch, with warnings as errors (the README's command)."""
    out = tmp_path_factory.mktemp("site")
    command = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        "--warningiserror",
        "--keep-going",
        "--path-output",
        str(out),
        str(ROOT),
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    seconds = time.perf_counter() - start
    html = out / "_build" / "html"
    print(f"\nsite built in {seconds:.1f} s into {html} (exit {proc.returncode})")
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # Sphinx colours its warnings
    return Build(proc.returncode, log, seconds, html)


@pytest.fixture(scope="session")
def html(site: Build) -> Path:
    """The built site; the browser tests run even if the build warned, to report everything."""
    if not (site.html / "index.html").is_file():
        pytest.fail(f"the build produced no site (exit {site.returncode}):\n{site.log[-6000:]}")
    return site.html


def test_build_has_no_warnings(site: Build) -> None:
    warnings = [
        line
        for line in site.log.splitlines()
        if re.search(r"\bWARNING\b|\bERROR\b|Validation errors in config|\[Warning\]", line)
    ]
    assert site.returncode == 0 and not warnings, (
        f"jupyter-book build exited {site.returncode} with {len(warnings)} warning(s):\n"
        + "\n".join(warnings[:50])
        + ("" if warnings else f"\n{site.log[-6000:]}")
    )


def test_site_is_self_contained(html: Path) -> None:
    """No page references a script, stylesheet, font or image on another host (links are fine)."""
    remote = re.compile(
        r"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
        r"|<link\b(?=[^>]*\brel=[\"']?(?:stylesheet|preload|icon|modulepreload))[^>]*"
        r"\bhref=[\"']?(?:https?:)?//"
        r"|url\([\"']?(?:https?:)?//",
        re.IGNORECASE,
    )
    offenders = []
    for path in sorted(html.rglob("*")):
        if path.suffix in {".html", ".css"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{path.relative_to(html)}: {m.group(0)}" for m in remote.finditer(text)]
    assert not offenders, "remote assets referenced:\n" + "\n".join(offenders[:50])
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not bundled"


# --------------------------------------------------------------------------------------------
# Serving and the browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):  # the browser closing a connection early is fine
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def server(html: Path) -> Iterator[str]:
    """Serve the built site on 127.0.0.1 at an ephemeral port; yields the base URL."""
    httpd = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=httpd.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium with a fresh profile (a Playwright persistent context)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(INSTALL_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: python -m pip install -r requirements.txt")
    profile = tmp_path_factory.mktemp("chromium-profile")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            color_scheme="light",
            service_workers="block",
        )
    except Exception as exc:
        playwright.stop()
        pytest.fail(f"could not start {CHROMIUM}: {exc}\n{INSTALL_CHROMIUM}")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()
        playwright.stop()


@dataclass
class Visit:
    """One page opened in the browser, and what went wrong while loading it."""

    page: Any
    third_party: list[str]
    console_errors: list[str]
    failed: list[str]


@contextlib.contextmanager
def visit(browser: Any, server: str, path: str, *, wait_url: str | None = None) -> Iterator[Visit]:
    """Open server/path in a new tab, blocking (and recording) requests to any other origin."""
    page = browser.new_page()
    record = Visit(page, [], [], [])
    origin = urlsplit(server)

    def route(route: Any) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in {"data", "blob"} or (url.hostname, url.port) == (
            origin.hostname,
            origin.port,
        ):
            route.continue_()
        else:
            record.third_party.append(route.request.url)
            route.abort("blockedbyclient")

    page.route("**/*", route)
    page.on(
        "console",
        lambda msg: (
            record.console_errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: record.console_errors.append(f"uncaught: {exc}"))
    page.on(
        "requestfailed",
        lambda req: (
            record.failed.append(f"{req.url}: {req.failure}")
            if urlsplit(req.url).hostname == origin.hostname
            else None
        ),
    )
    try:
        page.goto(urljoin(server, path), wait_until="load")
        if wait_url:
            page.wait_for_url(urljoin(server, wait_url), wait_until="load")
        page.wait_for_load_state("networkidle")
        yield record
    finally:
        page.close()


def site_pages(html: Path) -> list[str]:
    """Every HTML page of the site (not the assets under _static, _sources, _images)."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html).parts)
    )


def screenshot_name(path: str, suffix: str = "") -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{path.removesuffix('.html').replace('/', '__')}{suffix}.png"


def wait_for_math_and_images(page: Any) -> None:
    """Let MathJax finish typesetting and every image (lazy ones too) finish loading."""
    page.evaluate(
        """async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
                await MathJax.startup.promise;
            }
            await Promise.all([...document.images].map((img) => {
                img.loading = "eager";
                return img.decode().catch(() => null);
            }));
        }"""
    )


PAGE_STATE = """() => {
    const main = document.querySelector("main") || document.body;
    const visible = main.cloneNode(true);
    visible.querySelectorAll("pre, code, script, style, textarea, mjx-container, .highlight")
        .forEach((el) => el.remove());
    return {
        math: document.querySelectorAll(".math").length,
        typeset: document.querySelectorAll("mjx-container").length,
        untypeset: [...document.querySelectorAll(".math")]
            .filter((el) => !el.querySelector("mjx-container"))
            .map((el) => el.textContent.trim().slice(0, 80)),
        mathErrors: [...document.querySelectorAll("mjx-merror")]
            .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
        text: visible.textContent,
        images: [...document.images].map((img) => ({
            src: img.getAttribute("src"), width: img.naturalWidth, complete: img.complete,
        })),
        icons: [...document.querySelectorAll("link[rel~=icon]")].map((l) => l.href),
        codeBlocks: document.querySelectorAll("div.highlight pre").length,
        copyButtons: document.querySelectorAll("button.copybtn").length,
    };
}"""


def test_every_page(html: Path, server: str, browser: Any) -> None:
    """Open every page: no third-party request, no console error, math typeset, images loaded."""
    pages = site_pages(html)
    assert len(pages) >= 5, f"only {pages} were built"
    problems: dict[str, list[str]] = {}
    summary = []
    for path in pages:
        index = (html / path).read_text(encoding="utf-8")
        redirect = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index, re.I)
        wait_url = urljoin(path, redirect.group(1)) if redirect else None
        with visit(browser, server, path, wait_url=wait_url) as v:
            wait_for_math_and_images(v.page)
            state = v.page.evaluate(PAGE_STATE)
            v.page.screenshot(path=screenshot_name(path), full_page=True)
            for icon in state["icons"]:
                response = v.page.request.get(icon)
                if not response.ok:
                    v.failed.append(f"icon {icon}: HTTP {response.status}")
        issues = [f"third-party request blocked: {url}" for url in v.third_party]
        issues += [f"console error: {msg}" for msg in v.console_errors]
        issues += [f"request failed: {msg}" for msg in v.failed]
        if state["untypeset"]:
            issues.append(
                f"{len(state['untypeset'])} math element(s) not typeset, e.g. "
                f"{state['untypeset'][:3]}"
            )
        if state["math"] and not state["typeset"]:
            issues.append("page has math but MathJax produced no mjx-container")
        issues += [f"MathJax error: {err}" for err in state["mathErrors"]]
        raw = sorted({m.group(0)[:60] for m in RAW_TEX.finditer(state["text"])})
        if raw:
            issues.append(f"raw TeX in the visible text: {raw[:5]}")
        issues += [f"image not loaded: {img['src']}" for img in state["images"] if not img["width"]]
        if state["codeBlocks"] and state["copyButtons"] < state["codeBlocks"]:
            issues.append(
                f"{state['codeBlocks']} code blocks but {state['copyButtons']} copy buttons"
            )
        if issues:
            problems[path] = issues
        summary.append(
            f"{path}: math {state['typeset']}/{state['math']}, "
            f"images {len(state['images'])}, code {state['codeBlocks']}"
        )
    print("\n" + "\n".join(summary))
    assert not problems, "\n".join(
        f"{path}:\n  " + "\n  ".join(issues) for path, issues in problems.items()
    )


def test_search_finds_softmax(html: Path, server: str, browser: Any) -> None:
    with visit(browser, server, "search.html?q=softmax") as v:
        v.page.wait_for_selector("#search-results ul.search li", timeout=PAGE_TIMEOUT_MS)
        v.page.wait_for_function(
            "() => !document.querySelector('#search-results')?.textContent.includes('Searching')"
        )
        links = v.page.eval_on_selector_all(
            "#search-results ul.search li a", "els => els.map((a) => a.getAttribute('href'))"
        )
        v.page.screenshot(path=screenshot_name("search"), full_page=True)
        assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
    assert links, "searching for 'softmax' found nothing"
    assert any("api.html" in link for link in links), f"the API reference is not found: {links}"


def test_dark_mode_toggle(html: Path, server: str, browser: Any) -> None:
    """The theme button switches <html data-theme> to dark, and the page really turns dark."""
    chapters = sorted(p for p in site_pages(html) if re.match(r"book/\d\d_", p)) or [
        "book/intro.html"
    ]
    page_path = chapters[0]
    with visit(browser, server, page_path) as v:
        page = v.page
        wait_for_math_and_images(page)

        def theme() -> tuple[str, str]:
            return page.evaluate(
                "() => [document.documentElement.dataset.theme,"
                " getComputedStyle(document.body).backgroundColor]"
            )

        light, light_bg = theme()
        assert light == "light", f"a light-scheme browser starts in data-theme={light!r}"
        seen = [light]
        for _ in range(3):  # the button cycles light -> dark -> auto
            page.locator("button.theme-switch-button:visible").first.click()
            seen.append(theme()[0])
            if seen[-1] == "dark":
                break
        dark, dark_bg = theme()
        assert dark == "dark", f"data-theme went through {seen}, never 'dark'"
        assert dark_bg != light_bg, f"the background stayed {light_bg} in dark mode"
        page.screenshot(path=screenshot_name(page_path, ".dark"), full_page=False)
        page.reload(wait_until="load")  # the choice persists across pages
        assert theme()[0] == "dark"
        assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
        page.locator("button.theme-switch-button:visible").first.click()  # leave light mode
        page.locator("button.theme-switch-button:visible").first.click()


def test_chapter_buttons(html: Path, server: str, browser: Any) -> None:
    """Each notebook chapter offers its .ipynb for download, Binder and Colab, repo and issues."""
    notebooks = sorted(
        p.relative_to(html / "_sources").as_posix() for p in (html / "_sources").rglob("*.ipynb")
    )
    assert notebooks, "no chapter notebook was built"
    problems = []
    for source in notebooks:
        path = source.removesuffix(".ipynb") + ".html"
        with visit(browser, server, path) as v:
            hrefs = v.page.eval_on_selector_all(
                ".article-header-buttons a", "els => els.map((a) => a.href)"
            )
            download = [h for h in hrefs if h.endswith(".ipynb") and "/_sources/" in h]
            if not download:
                problems.append(f"{path}: no .ipynb download button")
            else:
                response = v.page.request.get(download[0])
                if not (response.ok and "cells" in json.loads(response.text())):
                    problems.append(f"{path}: {download[0]} is not the notebook")
            expected = {
                "repository": REPO_URL,
                "binder": f"https://mybinder.org/v2/gh/{REPO_URL.split('github.com/')[1]}/{BRANCH}"
                f"?urlpath=lab/tree/{source}",
                "colab": f"https://colab.research.google.com/github/"
                f"{REPO_URL.split('github.com/')[1]}/blob/{BRANCH}/{source}",
            }
            for name, url in expected.items():
                if url not in hrefs:
                    problems.append(f"{path}: no {name} button to {url}")
            if not any(h.startswith(f"{REPO_URL}/issues/new") for h in hrefs):
                problems.append(f"{path}: no open-issue button")
            assert not v.third_party, v.third_party
    assert not problems, "\n".join(problems)


def test_api_reference(html: Path, server: str, browser: Any) -> None:
    """Every public function is documented with its formula, and listed in the summary table.

    ce_lib.numpy.<name> and ce_lib.torch.<name> (the targets of the chapters' {func} links) from
    the docstrings, each with math; each also has a row in book/api.md's "Functions at a glance";
    and every dispatching ce_lib.<name> has a target too.
    """
    import importlib

    expected, dispatchers = [], []
    for backend in ("ce_lib", "ce_lib.numpy", "ce_lib.torch"):
        module = importlib.import_module(backend)
        names = [f"{backend}.{name}" for name in module.__all__ if callable(getattr(module, name))]
        (dispatchers if backend == "ce_lib" else expected).extend(names)
    with visit(browser, server, "book/api.html") as v:
        wait_for_math_and_images(v.page)
        found = v.page.evaluate(
            """(ids) => Object.fromEntries(ids.map((id) => {
                const dt = document.getElementById(id);
                const dl = dt && dt.closest("dl.py");
                return [id, dl ? dl.querySelectorAll("mjx-container").length : -1];
            }))""",
            expected + dispatchers,
        )
        in_summary = set(
            v.page.eval_on_selector_all(
                ".api-summary a[href^='#ce_lib.']",
                "els => els.map((a) => a.getAttribute('href').slice(1))",
            )
        )
        assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
    missing = [name for name, n in found.items() if n < 0]
    no_formula = [name for name in expected if found[name] == 0]
    not_summarised = [name for name in expected if name not in in_summary]
    assert not missing, f"no target in the API reference (book/api.md) for {missing}"
    assert not no_formula, f"documented without a formula (no math in the docstring): {no_formula}"
    assert not not_summarised, f"no row in book/api.md's summary table for {not_summarised}"
    index = (html / "genindex.html").read_text(encoding="utf-8")
    assert "ce_lib.numpy.softmax" in index and "ce_lib.torch.softmax" in index, (
        "the general index does not list the API"
    )


# --------------------------------------------------------------------------------------------
# Code fits the page, and the exercise index lists every exercise

CODE_WIDTH = """() => {
    // Open every collapsed cell (hide-input, hide-cell) so that its code is laid out too.
    document.querySelectorAll("details").forEach((d) => { d.open = true; });
    document.querySelectorAll(".toggle-hidden, .toggle-details__summary")
        .forEach((el) => el.classList.remove("toggle-hidden"));
    const pres = [...document.querySelectorAll("div.cell_input div.highlight pre")];
    const overflowing = pres
        .filter((pre) => pre.clientWidth > 0 && pre.scrollWidth > pre.clientWidth)
        .map((pre) => ({
            scroll: pre.scrollWidth, client: pre.clientWidth,
            longest: pre.textContent.split("\\n")
                .reduce((a, b) => (b.length > a.length ? b : a), ""),
        }));
    const hidden = pres.filter((pre) => pre.clientWidth === 0).length;
    // How many characters fit: a probe line of 80 characters in the first code cell's <pre>.
    let fits = null;
    let probeOverflows = null;
    const first = pres.find((pre) => pre.clientWidth > 0);
    if (first) {
        const probe = first.cloneNode(false);
        const line = document.createElement("span");
        line.textContent = "x".repeat(80);
        probe.appendChild(line);
        first.parentNode.appendChild(probe);
        probeOverflows = probe.scrollWidth > probe.clientWidth;
        const style = getComputedStyle(probe);
        const inner = probe.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        fits = Math.floor(inner / (line.getBoundingClientRect().width / 80));
        probe.remove();
    }
    return {cells: pres.length, hidden, overflowing, fits, probeOverflows};
}"""


def chapter_pages(html: Path) -> list[str]:
    return sorted(p for p in site_pages(html) if re.match(r"book/\d\d_", p))


def test_code_cells_fit_the_column(html: Path, server: str, browser: Any) -> None:
    """At the default desktop layout no chapter code cell scrolls sideways; 80 columns fit."""
    pages = chapter_pages(html)
    assert pages, "no chapter page was built"
    problems, widths = [], []
    for path in pages:
        with visit(browser, server, path) as v:
            state = v.page.evaluate(CODE_WIDTH)
        assert state["cells"] > 0, f"{path}: no code cell found (did the theme's markup change?)"
        assert state["hidden"] == 0, f"{path}: {state['hidden']} code cells were not laid out"
        widths.append(state["fits"])
        if state["probeOverflows"]:
            problems.append(
                f"{path}: a line of 80 characters overflows (about {state['fits']} fit)"
            )
        problems += [
            f"{path}: code overflows ({o['scroll']} > {o['client']} px): {o['longest'][:100]!r}"
            for o in state["overflowing"]
        ]
    print(f"\ncharacters that fit in a code cell at 1280 px: {min(widths)}-{max(widths)}")
    assert not problems, "\n".join(problems)


EXERCISE_LABEL = re.compile(r"^\(ex-(\d+)-(\d+)\)=", re.M)


def test_exercise_index_lists_every_exercise(html: Path) -> None:
    """book/solutions.md is generated: every exercise of every chapter, linked, and no answer."""
    expected = []
    for notebook in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        expected += [
            (f"{notebook.stem}.html#ex-{ch}-{k}", f"Exercise {int(ch)}.{int(k)}")
            for ch, k in EXERCISE_LABEL.findall(text)
        ]
    assert len(expected) >= 10, f"only {len(expected)} exercises found in the chapters"
    page = (html / "book" / "solutions.html").read_text(encoding="utf-8")
    main = page[page.index('<article class="bd-article"') : page.index("</article>")]
    links = re.findall(
        r'<a class="reference internal" href="([^"]*#ex-[^"]*)"[^>]*>(.*?)</a>', main
    )
    found = [(href, re.sub(r"<[^>]+>", "", text).strip()) for href, text in links]
    assert found == expected, (
        f"missing: {sorted(set(expected) - set(found))}, extra: {sorted(set(found) - set(expected))}"
    )
    assert "<h1>Exercises" in main, "the page is titled Exercises"
    assert "dropdown" not in main and "admonition" not in main, "the index holds no solution"
