"""The rendered book in a real browser (Debian's chromium, headless, via selenium), every page opened from disk.

Fails on raw LaTeX left in the text after MathJax ran (MathJax must be served by the build itself), a missing image,
a broken internal link (file or anchor) or a Python warning printed into an output.

The reader's checks (scripts/check_pages.py: every page at 1280 px and 390 px; prose printed by outputs, blocks and
tables wider than the text column, clipped captions, snake_case headers, counts shown as floats, build-machine paths,
audio players that do not load, images without alt text, MathJax errors, broken links, rows taller than three lines)
run over the same build; every check must find nothing (``ENFORCED_CHECKS``). Full-page screenshots
of every page at both widths are written under the build's ``src/results/screenshots/`` (or, for a
``GREENAUDIO_BOOK_HTML`` build, ``screenshots/`` next to its ``html`` folder). The checker itself is tested on a
hand-made page with a hand-counted set of violations (fast tier).

The book is built once per test session in quick mode into a temporary folder (conftest's ``built_book``, shared with
the chapter tests), or, when
``GREENAUDIO_BOOK_HTML`` names an already built ``html`` folder, that build is checked instead.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import sys
import wave
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_pages  # noqa: E402

#: Every check of scripts/check_pages.py must find nothing in the built book: the reader's edition holds them all at 0
#: ("audio_not_loaded" at 0 means every player loaded: loaded == present).
ENFORCED_CHECKS: tuple[str, ...] = check_pages.CHECK_IDS

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


@pytest.mark.notebooks
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
        hrefs = browser.execute_script(LINKS_JS)
        for href, missing in check_pages.link_findings([{"href": h, "element": h} for h in hrefs], cache):
            problems.append(f"{name}: broken link {href}: {missing}")
    assert not problems, "\n".join(sorted(set(problems)))


def screenshot_dir(html: Path) -> Path:
    """Where the reader's-check screenshots of a build go: its ``src/results/screenshots/`` (the build made by
    conftest's ``built_book`` or scripts/build_book.py), else ``screenshots/`` next to the ``html`` folder."""
    results = html.parent / "src" / "results"
    return results / "screenshots" if results.is_dir() else html.parent / "screenshots"


@pytest.mark.notebooks
def test_reader_checks_on_every_page(book_html):
    pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    shots = screenshot_dir(book_html)
    report = check_pages.check_book(book_html, screenshots=shots)
    (shots / "pages.json").write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    print(report.summary())
    assert len(report.pages) >= 10, [p.page for p in report.pages]
    assert all(len(p.screenshots) == len(check_pages.VIEWPORTS) for p in report.pages)
    failing = [f for f in report.findings if f.check in ENFORCED_CHECKS]
    assert not failing, "\n".join(map(str, failing))
    assert report.audio_loaded == report.audio_present


def _wav_data_uri(seconds: float = 0.2, rate: int = 8000) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


#: 1x1 transparent PNG.
_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5C"
        "YII=")
_LONG = "wide " * 60


def _self_test_page() -> str:
    """A hand-made page in the theme's structure with one of each violation (and a clean counterpart of each)."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>self-test</title><style>
body {{ margin: 0; font: 14px/20px sans-serif; }}
article.bd-article {{ max-width: 600px; padding: 0; }}
pre {{ margin: 0; padding: 0; font: 12px/16px monospace; }}
td, th {{ padding: 2px; }}
</style></head><body>
<div class="navbar-brand"><img src="{_PNG}"></div>
<main><article class="bd-article">
<h1 id="top">Self-test</h1>
<p id="path">The results were written to /tmp/x by the build.</p>
<div class="cell docutils container"><div class="cell_input"><pre>save(Path("/tmp/y"))</pre></div>
<div class="cell_output"><div class="output stream"><pre id="prose">It was trained for eight hours, and it works.
The energy was read from the meter on the wall.</pre></div></div>
<div class="cell_output"><div class="output text_plain"><pre id="numbers">model    rtf
hifigan  0.30
melgan   0.12</pre></div></div>
<div class="cell_output"><div class="output text_plain"><pre id="posix">PosixPath('/work/z/results')</pre></div></div>
</div>
<table id="wide"><thead><tr><th>Model</th><th>Note</th></tr></thead>
<tbody><tr><td>a</td><td style="white-space: nowrap">{_LONG}</td></tr></tbody></table>
<div class="ga-scroll" style="overflow-x: auto"><table id="scrolled"><thead><tr><th>Model</th><th>Note</th></tr>
</thead><tbody><tr><td>a</td><td style="white-space: nowrap">{_LONG}</td></tr></tbody></table></div>
<div class="pst-scrollable-table-container" style="overflow-x: auto"><table id="themed">
<caption>Book table 1: a wide table in the theme's wrapper</caption>
<thead><tr><th>Model</th><th>Note</th></tr></thead>
<tbody><tr><td>a</td><td style="white-space: nowrap">{_LONG}</td></tr></tbody></table></div>
<table id="snake"><thead><tr><th>model_name</th><th>Size</th></tr></thead>
<tbody><tr><td>hifigan</td><td>small</td></tr></tbody></table>
<table id="floats"><thead><tr><th>Model</th><th>Flows</th><th>RTF</th><th>Steps</th></tr></thead>
<tbody><tr><td>a</td><td>8.0</td><td>0.5</td><td>3</td></tr><tr><td>b</td><td>16.0</td><td>1.0</td><td>4</td></tr>
<tr><td>c</td><td>NaN</td><td>2.0</td><td>5</td></tr></tbody></table>
<table id="tall"><tbody><tr><td>one<br>two<br>three<br>four</td><td>x</td></tr>
<tr><td>one<br>two<br>three</td><td>y</td></tr></tbody></table>
<p><img id="no-alt" src="{_PNG}"> <img id="with-alt" src="{_PNG}" alt="A dot."> <img id="empty-alt" src="{_PNG}" alt="">
<img id="alt-file" src="../_images/figure-1.png" alt="../_images/figure-1.png"></p>
<p id="latex">A formula left as \\frac{{a}}{{b}} in the text.</p>
<p><a href="#wide">fine</a> <a href="#nowhere">anchor missing</a> <a href="missing.html">file missing</a></p>
<audio controls preload="none" src="{_wav_data_uri()}"></audio>
<audio controls preload="none" src="missing.wav"></audio>
</article></main></body></html>"""


def test_checker_finds_the_hand_counted_violations(tmp_path):
    pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    html = tmp_path / "html"
    html.mkdir()
    (html / "page.html").write_text(_self_test_page())
    report = check_pages.check_book(html, screenshots=tmp_path / "shots", audio_timeout=5)
    by_check = {c: sorted((f.viewport, f.element.split(" ")[0]) for f in report.findings if f.check == c)
                for c in check_pages.CHECK_IDS}
    assert by_check == {
        "prose_output": [(1280, "pre#prose")],
        # the bare wide table and the one in the theme's wrapper, at both widths; not the one inside .ga-scroll
        "too_wide": [(390, "table#themed"), (390, "table#wide"), (1280, "table#themed"), (1280, "table#wide")],
        "clipped_caption": [(390, "caption"), (1280, "caption")],
        "snake_case_header": [(1280, "th")],
        "float_count_column": [(1280, "table#floats")],  # Flows (8.0, 16.0, NaN); not RTF (0.5) nor Steps (ints)
        "build_path": [(1280, "p#path"), (1280, "pre#posix")],  # not the cell input's /tmp/y
        "audio_not_loaded": [(1280, "audio")],
        "img_without_alt": [(1280, "img#empty-alt"), (1280, "img#no-alt")],  # not the logo, not "A dot."
        "img_alt_is_filename": [(1280, "img#alt-file")],
        "math_error": [(1280, "p#latex")],
        "broken_link": [(1280, "a"), (1280, "a")],
        "tall_row": [(1280, "tr")],  # four lines; the three-line row is allowed
    }, "\n".join(map(str, report.findings))
    (floats,) = [f for f in report.findings if f.check == "float_count_column"]
    assert "'Flows': 2 cells" in floats.detail
    (posix,) = [f for f in report.findings if f.element.startswith("pre#posix")]
    assert posix.detail.startswith("PosixPath( /work/ in") or posix.detail.startswith("/work/ PosixPath( in"), posix
    assert (report.audio_present, report.audio_loaded) == (2, 1)
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["00-page-1280px.png", "00-page-390px.png"]
    assert all((tmp_path / "shots" / n).read_bytes().startswith(b"\x89PNG") for n in ("00-page-1280px.png",))


@pytest.mark.parametrize("text, prose", [
    ("It was trained for eight hours, and it works.", True),
    ("The energy was read from the meter on the wall.", True),
    ("The energy was read from the meter on the wall", False),  # no full stop, no ', '
    ("hifigan 0.30 melgan 0.12 waveglow 0.50 waveflow 0.70 diffwave 0.9.", False),  # 5 words of letters
    ("Saved 3 files.", False),
    ("", False),
])
def test_prose_line_heuristic(text, prose):
    assert check_pages.is_prose_line(text) is prose
    assert check_pages.is_prose_block(text) is prose


def test_prose_block_needs_half_of_its_lines():
    sentence = "It was trained for eight hours, and it works."
    assert check_pages.is_prose_block("\n".join([sentence, "a 1", "", sentence]))  # 2 of 3 non-blank lines
    assert not check_pages.is_prose_block("\n".join([sentence, "a 1", "b 2"]))  # 1 of 3
