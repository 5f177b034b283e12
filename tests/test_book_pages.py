"""The rendered book in a real browser (Debian's chromium, headless, via selenium), every page opened from disk.

Fails on raw LaTeX left in the text after MathJax ran (MathJax must be served by the build itself), a missing image,
a broken internal link (file or anchor) or a Python warning printed into an output.

The book is built once per test session in quick mode into a temporary folder (conftest's ``built_book``, shared with
the chapter tests), or, when
``GREENAUDIO_BOOK_HTML`` names an already built ``html`` folder, that build is checked instead.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.notebooks

RAW_LATEX = re.compile(r"\\(\[|\]|\(|\)|mathrm|mathcal|frac|times|text\{|sum|begin\{)|\$\$")
WARNING = re.compile(r"\b[A-Z]\w*Warning\b[:(]|IProgress not found")
#: Text of a page outside code, preformatted output and rendered math.
VISIBLE_TEXT_JS = """
const body = document.body.cloneNode(true);
body.querySelectorAll('pre, code, script, style, mjx-container, .MathJax, textarea').forEach(e => e.remove());
return body.innerText;
"""
OUTPUTS_JS = """
return Array.from(document.querySelectorAll('.cell_output, .output')).map(e => e.innerText);
"""
IMAGES_JS = """
return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
"""
LINKS_JS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"
MATHJAX_WAIT_JS = """
const done = arguments[arguments.length - 1];
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => done('typeset')).catch(e => done('error: ' + e));
} else { done(document.querySelector('.math') ? 'no MathJax' : 'no math'); }
"""


@pytest.fixture(scope="module")
def book_html(request) -> Path:
    given = os.environ.get("GREENAUDIO_BOOK_HTML")
    if given:
        return Path(given)
    return request.getfixturevalue("built_book") / "html"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


def pages(html: Path) -> list[Path]:
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts))


def anchors(page: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page.read_text(errors="replace")))


def test_every_page_renders_offline(book_html, browser):
    assert (book_html / "index.html").exists(), book_html
    problems: list[str] = []
    cache: dict[Path, set[str]] = {}
    for page in pages(book_html):
        name = page.relative_to(book_html)
        browser.get(page.as_uri())
        state = browser.execute_async_script(MATHJAX_WAIT_JS)
        if state not in ("typeset", "no math"):
            problems.append(f"{name}: MathJax {state}")
        text = browser.execute_script(VISIBLE_TEXT_JS)
        for match in sorted({m.group(0) for m in RAW_LATEX.finditer(text)}):
            problems.append(f"{name}: raw LaTeX {match!r} visible")
        for src in browser.execute_script(IMAGES_JS):
            problems.append(f"{name}: image not loaded: {src}")
        for output in browser.execute_script(OUTPUTS_JS):
            for match in WARNING.finditer(output):
                line = next((ln for ln in output.splitlines() if match.group(0) in ln), match.group(0))
                problems.append(f"{name}: warning in an output: {line[:160]}")
        for href in browser.execute_script(LINKS_JS):
            url = urlparse(href)
            if url.scheme != "file":
                continue
            target = Path(unquote(url.path))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{name}: broken link {href}")
            elif url.fragment and target.suffix == ".html":
                ids = cache.setdefault(target, anchors(target))
                if unquote(url.fragment) not in ids:
                    problems.append(f"{name}: broken anchor {href}")
    assert not problems, "\n".join(sorted(set(problems)))
