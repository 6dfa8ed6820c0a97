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


# --------------------------------------------------------------------------------------------
# Interactive figures (ce_lib/interactive.py): they run in the browser, offline, and their
# numbers are ce_lib's

INTERACTIVE_TOLERANCE = 1e-6  # issue 13; measured agreement is ~1e-15 (printed by the test)
EXTRA_WEIGHT_LIMIT = 1_500_000  # bytes: the vendored runtime, the loader and every chart spec

WAIT_FOR_CHARTS = """() => ["ready", "failed"].includes(document.documentElement.dataset.ceInteractive)"""

SET_AND_READ = """async ([name, signals, datasets]) => {
    const view = window.ceInteractive[name];
    for (const [key, value] of Object.entries(signals)) view.signal(key, value);
    await view.runAsync();
    const out = {};
    for (const d of datasets) out[d] = view.data(d).map((row) => ({...row}));
    return out;
}"""

CHART_STATE = """(name) => {
    const el = document.getElementById("ce-" + name);
    const figure = el && document.getElementById(el.dataset.ceStatic);
    const img = figure && figure.querySelector(":scope > img");
    const visible = (node) => !!node && getComputedStyle(node).display !== "none";
    const controls = [...el.querySelectorAll(".ce-interactive-controls input")];
    return {
        inFigure: !!figure && figure.contains(el),
        caption: figure ? (figure.querySelector("figcaption") || {}).textContent || "" : "",
        chartVisible: visible(el), imageVisible: visible(img),
        fallbackVisible: visible(el.querySelector(".ce-interactive-fallback")),
        svg: !!el.querySelector(".ce-interactive-view svg"),
        ariaLabel: (el.querySelector(".ce-interactive-view") || {getAttribute: () => ""})
            .getAttribute("aria-label"),
        unlabelled: controls.filter((input) => {
            const label = input.closest("label");
            const group = input.closest("[role=radiogroup]");
            return !(label && label.textContent.trim()) || (input.type === "radio"
                && !(group && group.getAttribute("aria-label")));
        }).length,
        controls: controls.length,
        textFill: (() => {
            const text = el.querySelector(".ce-interactive-view svg text");
            return text ? getComputedStyle(text).fill : null;
        })(),
        pageColor: getComputedStyle(document.body).color,
    };
}"""


def _chart_pages(html: Path) -> dict[str, list[str]]:
    """Page path -> names of the interactive charts it holds."""
    found = {}
    for path in chapter_pages(html):
        names = re.findall(r'<div class="ce-interactive" id="ce-([\w-]+)"',
                           (html / path).read_text(encoding="utf-8"))
        if names:
            found[path] = names
    return found


def _expected(name: str, signals: dict[str, float], data: dict[str, list[dict]]) -> list[tuple]:
    """(what, browser values, ce_lib values) for one chart at one position of its sliders."""
    import numpy as np

    import ce_lib.numpy as cn

    def col(dataset: str, key: str) -> np.ndarray:
        return np.array([row[key] for row in data[dataset]], dtype=np.float64)

    point = data["point"][0]
    out = []
    if name == "ch02-bce":
        z, t = signals["z"], float(signals["t"])
        zg = col("curve", "z")
        for tv in (0.0, 1.0):
            out.append((f"loss curve t={tv:g}", col("curve", f"loss_t{tv:g}"),
                        cn.binary_cross_entropy_with_logits(zg, np.full_like(zg, tv),
                                                            reduction="none")))
        out.append(("gradient curve", col("curve", "grad"),
                    cn.binary_cross_entropy_with_logits_grad(zg, np.full_like(zg, t),
                                                             reduction="sum")))
        out.append(("p", point["p"], cn.sigmoid(z)))
        out.append(("loss", point["loss"], cn.binary_cross_entropy_with_logits(z, t)))
        out.append(("gradient", point["grad"], cn.sigmoid(z) - t))
    elif name == "ch03-softmax":
        z = np.array([signals[f"z{c}"] for c in range(5)])
        y = int(signals["y"])
        out.append(("softmax", col("classes", "p"), cn.softmax(z)))
        out.append(("gradient p - y", col("classes", "grad"),
                    cn.softmax_cross_entropy_grad(z[None], np.array([y]))[0]))
        out.append(("loss", point["loss"], cn.softmax_cross_entropy(z, np.array(y))))
        out.append(("logsumexp", point["lse"], cn.logsumexp(z)))
    elif name == "ch08-temperature-smoothing":
        teacher = np.array([6.0, 2.5, 1.0, -1.5, -3.0])
        temp, eps = signals["T"], signals["eps"]
        out.append(("softmax(v / T)", col("classes", "p"), cn.softmax(teacher / temp)))
        g = col("curve", "g")
        logits = np.zeros((len(g), 5))
        logits[:, 0] = g
        target = np.zeros(len(g), dtype=np.int64)
        out.append(("smoothed loss curve", col("curve", "loss"),
                    cn.softmax_cross_entropy(logits, target, reduction="none",
                                             label_smoothing=eps)))
        out.append(("plain loss curve", col("curve", "loss_plain"),
                    cn.softmax_cross_entropy(logits, target, reduction="none")))
        if eps > 0:
            smoothed = (1 - eps) * np.eye(5)[0] + eps / 5
            out.append(("g*", point["g_star"], np.log(smoothed[0] / smoothed[1])))
            at_min = np.array([[point["g_star"], 0, 0, 0, 0]])
            out.append(("minimum = H(smoothed target)", point["loss_min"],
                        cn.entropy(smoothed)))
            out.append(("ce_lib's loss at the browser's g*", point["loss_min"],
                        cn.softmax_cross_entropy(at_min, np.array([0]), label_smoothing=eps)))
    elif name == "ch06-entropy-kl":
        t, p = signals["t"], signals["p"]
        target = np.array([t, 1 - t])
        pg = col("curve", "p")
        two = np.stack([pg, 1 - pg], axis=-1)
        out.append(("H(t, p) curve", col("curve", "cross"), cn.cross_entropy(target, two)))
        out.append(("KL curve", col("curve", "kl"), cn.kl_divergence(target, two)))
        out.append(("H(t, p)", point["cross"], cn.cross_entropy(target, [p, 1 - p])))
        out.append(("H(t)", point["entropy"], cn.entropy(target)))
        out.append(("KL", point["kl"], cn.kl_divergence(target, [p, 1 - p])))
    else:
        raise AssertionError(f"no reference for chart {name!r}: add one to _expected")
    return out


POSITIONS = {
    "ch02-bce": [{"z": 2.0, "t": 1}, {"z": -8.0, "t": 1}, {"z": -3.3, "t": 0},
                 {"z": 0.0, "t": 0}, {"z": 7.9, "t": 1}, {"z": 8.0, "t": 0}],
    "ch03-softmax": [
        {"z0": 2.0, "z1": 1.0, "z2": 0.1, "z3": -1.0, "z4": 0.5, "y": 0},
        {"z0": -6.0, "z1": 6.0, "z2": 6.0, "z3": -6.0, "z4": 0.0, "y": 3},
        {"z0": 0.0, "z1": 0.0, "z2": 0.0, "z3": 0.0, "z4": 0.0, "y": 4},
        {"z0": 5.5, "z1": -2.3, "z2": 1.7, "z3": 3.1, "z4": -0.4, "y": 1},
    ],
    "ch08-temperature-smoothing": [{"T": 1.0, "eps": 0.1}, {"T": 0.25, "eps": 0.0},
                                   {"T": 3.35, "eps": 0.01}, {"T": 10.0, "eps": 0.5}],
    "ch06-entropy-kl": [{"t": 0.2, "p": 0.6}, {"t": 0.01, "p": 0.99}, {"t": 0.5, "p": 0.5},
                        {"t": 0.99, "p": 0.01}, {"t": 0.37, "p": 0.37}],
}


def test_interactive_figures_compute_what_ce_lib_computes(
    html: Path, server: str, browser: Any
) -> None:
    """Each chart renders offline inside its figure, labelled, and its numbers are ce_lib's.

    The sliders are moved through the Vega view API to several positions (the ends of their
    ranges included); every value the browser computed, curves and readouts, is compared with
    ce_lib to 1e-6. The page must hold exactly the specification ce_lib.interactive builds.
    """
    import numpy as np

    from ce_lib import interactive as ix

    builders = {b().name: b for b in (ix.bce_explorer, ix.softmax_explorer,
                                      ix.temperature_smoothing_explorer,
                                      ix.entropy_kl_explorer)}
    pages = _chart_pages(html)
    charted = sorted(name for names in pages.values() for name in names)
    assert charted == sorted(builders), f"charts on the site: {charted}"
    worst = 0.0
    problems = []
    for path, names in pages.items():
        page_html = (html / path).read_text(encoding="utf-8")
        with visit(browser, server, path) as v:
            v.page.wait_for_function(WAIT_FOR_CHARTS)
            status = v.page.evaluate("document.documentElement.dataset.ceInteractive")
            assert status == "ready", f"{path}: charts {status}: {v.console_errors}"
            for name in names:
                assert builders[name]()._repr_html_() in page_html, (
                    f"{path}: the stored chart {name} is not what ce_lib.interactive builds "
                    "(re-execute the chapter)"
                )
                state = v.page.evaluate(CHART_STATE, name)
                checks = {
                    "the chart sits in its static figure": state["inFigure"],
                    "the chart shows": state["chartVisible"] and state["svg"],
                    "the static image hides on screen": not state["imageVisible"],
                    "the fallback note hides": not state["fallbackVisible"],
                    "every control has a label": state["controls"] >= 2
                    and not state["unlabelled"],
                    "the chart has an aria-label": bool(state["ariaLabel"]),
                    "the caption says what to try": "Try" in state["caption"],
                    "the chart's text is in the page's colour": state["textFill"]
                    == state["pageColor"],
                }
                problems += [f"{path} {name}: not {what}" for what, ok in checks.items() if not ok]
                for signals in POSITIONS[name]:
                    datasets = [d["name"] for d in builders[name]().spec["data"]]
                    data = v.page.evaluate(SET_AND_READ, [name, signals, datasets])
                    for what, got, want in _expected(name, signals, data):
                        got, want = np.asarray(got, float), np.asarray(want, float)
                        assert got.shape == want.shape, (name, what, got.shape, want.shape)
                        err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
                        worst = max(worst, float(err.max()))
                        if not err.max() <= INTERACTIVE_TOLERANCE:
                            problems.append(f"{path} {name} at {signals}: {what} differs "
                                            f"from ce_lib by {err.max():.2g}")
                figure = v.page.locator(f"#{builders[name]().static_figure}")
                figure.screenshot(path=screenshot_name(path, f".{name}"))
            assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
    print(f"\nlargest relative difference between browser and ce_lib: {worst:.1e}")
    assert not problems, "\n".join(problems)


def test_interactive_sliders_work_from_the_keyboard(html: Path, server: str, browser: Any) -> None:
    """Arrow keys move a slider and switch a radio button; the chart recomputes."""
    import numpy as np

    import ce_lib.numpy as cn

    path = next(p for p, names in _chart_pages(html).items() if "ch02-bce" in names)
    with visit(browser, server, path) as v:
        page = v.page
        page.wait_for_function(WAIT_FOR_CHARTS)
        read = "() => ({...window.ceInteractive['ch02-bce'].data('point')[0]})"
        start = page.evaluate(read)
        slider = page.locator("#ce-ch02-bce input[type=range]").first
        slider.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => Math.abs(window.ceInteractive['ch02-bce'].signal('z') - 2.3) < 1e-9")
        radio = page.locator("#ce-ch02-bce input[type=radio]:checked")
        radio.focus()
        page.keyboard.press("ArrowLeft")  # from t = 1 to t = 0
        page.wait_for_function("() => window.ceInteractive['ch02-bce'].signal('t') == 0")
        page.evaluate("async () => { await window.ceInteractive['ch02-bce'].runAsync(); }")
        moved = page.evaluate(read)
        readout = page.locator("#ce-ch02-bce svg text").first.text_content()
        assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
    assert start["z"] == 2.0 and abs(moved["z"] - 2.3) < 1e-9
    expected = float(cn.binary_cross_entropy_with_logits(2.3, 0.0))
    assert abs(moved["loss"] - expected) <= INTERACTIVE_TOLERANCE * expected
    assert f"{expected:.4f}" in readout, readout
    assert np.isclose(moved["grad"], float(cn.sigmoid(2.3)), rtol=INTERACTIVE_TOLERANCE)


def test_interactive_figures_fall_back_to_the_static_image(
    html: Path, server: str, browser: Any
) -> None:
    """In print, and where the JavaScript does not run, the static figure shows; in dark mode
    the chart's text follows the page's (light) text colour."""
    path = next(iter(_chart_pages(html)))
    name = _chart_pages(html)[path][0]
    with visit(browser, server, path) as v:
        page = v.page
        page.wait_for_function(WAIT_FOR_CHARTS)
        page.emulate_media(media="print")
        printed = page.evaluate(CHART_STATE, name)
        page.emulate_media(media="screen", color_scheme="dark")
        page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
        dark = page.evaluate(CHART_STATE, name)
        page.locator(f"#ce-{name}").screenshot(path=screenshot_name(path, f".{name}.dark"))
        page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
        page.emulate_media(media="screen", color_scheme="light")
        assert not v.third_party and not v.console_errors, (v.third_party, v.console_errors)
    assert printed["imageVisible"] and not printed["chartVisible"], printed
    assert dark["textFill"] == dark["pageColor"], dark
    light_text = [int(c) for c in re.findall(r"\d+", dark["pageColor"])[:3]]
    assert sum(light_text) > 3 * 128, f"dark mode text is not light: {dark['pageColor']}"

    page = browser.new_page()
    try:  # no JavaScript for the charts: the loader never arrives
        page.route("**/*", lambda route: route.abort()
                   if "ce_interactive.js" in route.request.url
                   or urlsplit(route.request.url).hostname != "127.0.0.1"
                   else route.continue_())
        page.goto(urljoin(server, path), wait_until="load")
        page.wait_for_load_state("networkidle")
        without = page.evaluate(CHART_STATE, name)
    finally:
        page.close()
    assert without["imageVisible"] and without["fallbackVisible"], without
    assert not without["svg"] and not without["inFigure"], without


def test_interactive_extra_weight_is_small(html: Path) -> None:
    """The vendored runtime, its loader and licenses, and every chart's HTML: under 1.5 MB."""
    static = sum(p.stat().st_size for p in (html / "_static" / "vega").rglob("*") if p.is_file())
    charts = 0
    for path in chapter_pages(html):
        text = (html / path).read_text(encoding="utf-8")
        charts += sum(len(m.encode()) for m in re.findall(
            r'<div class="ce-interactive".*?</script>\s*</div>', text, re.S))
    total = static + charts
    print(f"\ninteractive figures: {static} bytes of JavaScript and licenses, "
          f"{charts} bytes of chart HTML")
    assert charts > 0, "no interactive chart found on the site"
    assert total < EXTRA_WEIGHT_LIMIT, f"the interactive figures add {total} bytes"
    loader = (html / "_static" / "vega" / "ce_interactive.js").read_text(encoding="utf-8")
    assert not re.search(r"https?://", loader), "the loader fetches from another host"
