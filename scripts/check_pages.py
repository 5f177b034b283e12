"""Every page of the built book opened in a real browser (Debian's chromium, headless, via selenium), at 1280 px and at
390 px wide, and checked for what a reader sees.

Usage:
    python scripts/check_pages.py _build/html                                  # summary table on stdout
    python scripts/check_pages.py _build/html --screenshots shots/ --json pages.json
    python scripts/check_pages.py _build/html --enforce too_wide,build_path   # exit status 1 if any of these > 0

Pages: those of ``_toc.yml`` in its order (the staged ``<build>/src/_toc.yml`` next to the ``html`` folder, else the
repository's), then any other page of the folder. Not checked: Sphinx's internals (``genindex``, ``search``,
``py-modindex``), the listening-test app (``listening-test-app/``, a static single-page application with its own
tests), redirect pages (``index.html``) and ``_static``/``_sources``/``_images``/``_downloads``.

Each page is loaded once at 1280 px (CSS pixels, device scale factor 1, scroll bars hidden), MathJax and fonts waited
for, checked, then the viewport is narrowed to 390 px and the width-dependent checks run again. Checks (id: what is
counted; "both" = measured at both widths, otherwise at 1280 px only):

1.  ``prose_output``: code-cell output blocks (``.cell_output pre``: streams, text/plain) whose text is mostly
    English sentences. A line is a *prose line* when it has at least 8 words made only of letters (apostrophes and
    inner hyphens allowed) and ends with '.' or contains ', '; a block is prose when at least half of its non-blank
    lines are prose lines (:func:`is_prose_block`). One finding per block.
2.  ``too_wide`` (both): output blocks (``.cell_output`` and the ``pre`` elements of outputs) and ``table`` elements
    inside the article whose width (``max(scrollWidth, bounding width)``) exceeds the text column's content width
    (``article.bd-article``, else ``main``) by more than 1 px. Only the innermost of nested wide candidates counts (a
    wide ``pre`` inside a ``.cell_output`` is one finding). Author-written code (cell inputs, code listings outside
    outputs) is not an output block and is not measured. Exempt: elements inside an explicit horizontal-scroll
    region, an ancestor with the class ``ga-scroll`` (a folded full table), or, at widths below
    :data:`NARROW_MAX_PX` only, ``ga-table`` (a main-flow table: it must fit the column on a desktop, and may scroll
    sideways on a phone); the theme's automatic wrappers (``pst-scrollable-table-container``) do not exempt.
2b. ``clipped_caption`` (both): ``caption``/``figcaption`` whose text (the text's own boxes, the hidden ``¶``
    header link excluded) is not entirely inside its visible box: the viewport intersected with every ancestor
    that clips horizontally (``overflow-x`` not ``visible``). Also applies inside ``ga-scroll`` regions: a caption
    must stay readable without scrolling.
3.  ``snake_case_header``: ``th`` cells whose text contains '_'.
4.  ``float_count_column``: table columns (per ``tbody``, ``colspan`` aware) whose non-missing ``td`` cells, at
    least 2 of them, all read like ``^-?\\d+\\.0$`` (a count shown as floats; missing = empty, NaN, nan, <NA>, None,
    '-', '–', '—'). One finding per column.
5.  ``build_path``: absolute paths of the build machine (``/tmp/``, ``/root/``, ``/home/``, ``/work/``,
    ``PosixPath(``, the build folder, the repository root) in the visible text: prose, tables, captions and code-cell
    outputs. Author-written code (cell inputs, code listings outside outputs) is not scanned. One finding per text
    block (text node or ``pre``), naming the patterns found and the line that holds the first.
6.  ``audio_not_loaded``: ``<audio>`` elements that do not reach ``readyState >= 1`` with ``duration > 0`` within
    ``--audio-timeout`` seconds (a page's players are asked to load their metadata, ``preload="none"`` ones too).
    The per-page counts of players present and loaded are reported beside it.
7.  ``img_without_alt``: ``img`` (outside the theme's logo) with no ``alt`` attribute or an empty one.
7b. ``img_alt_is_filename``: ``img`` whose ``alt`` is only the image's file name or address (what Sphinx and myst-nb
    write when no alt text is given): present, but no text for a reader who cannot see the image.
8.  ``math_error``: MathJax error nodes (``mjx-merror``, ``.MathJax_Error``, ``[data-mjx-error]``), MathJax that did
    not finish, and raw LaTeX left in the visible text outside code and rendered math (:data:`RAW_LATEX`).
9.  ``broken_link``: links to a file of the book that does not exist, or to an anchor the target page lacks.
10. ``tall_row``: table rows (``tr``) taller than 3 lines: height > max over the row's cells of
    (3 x line-height + vertical padding and borders) + 1 px, at 1280 px.

Every finding names the page, the viewport, the check and the element (tag#id.classes, nearest ancestor id, first 60
characters of its text). ``--screenshots DIR`` saves a full-page PNG of every page at both widths
(``NN-<page>-<width>px.png``: the viewport made as tall as the page, captured in slices with the DevTools
``Page.captureScreenshot`` and stitched with Pillow).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]

#: (id, short header for the summary table, description), in the order of the checks.
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("prose_output", "prose", "1. output blocks that print prose"),
    ("too_wide", "wide", "2. output blocks / tables wider than the text column"),
    ("clipped_caption", "capt", "2b. captions not fully visible"),
    ("snake_case_header", "snake", "3. table headers with '_'"),
    ("float_count_column", "float", "4. count columns shown as floats"),
    ("build_path", "path", "5. build-machine paths in the visible text"),
    ("audio_not_loaded", "audio", "6. audio players that do not load"),
    ("img_without_alt", "alt", "7. images without alt text (missing or empty alt)"),
    ("img_alt_is_filename", "altfn", "7b. images whose alt text is only their file name"),
    ("math_error", "math", "8. MathJax errors / raw LaTeX"),
    ("broken_link", "link", "9. broken internal links"),
    ("tall_row", "tall", "10. table rows taller than 3 lines (1280 px)"),
)
CHECK_IDS = tuple(c[0] for c in CHECKS)
VIEWPORTS = (1280, 390)
#: Below this window width (px) a main-flow table (.ga-table) may scroll sideways.
NARROW_MAX_PX = 600
VIEWPORT_HEIGHT = 900
#: Full-page screenshots are captured in slices of this height and stitched; pages taller than the maximum are cut
#: (and the page's notes say so).
SCREENSHOT_SLICE = 4000
MAX_SCREENSHOT_HEIGHT = 60000

#: Internals of the HTML folder that are not pages of the book.
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "listening-test-app"}
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

RAW_LATEX = re.compile(r"\\(\[|\]|\(|\)|mathrm|mathcal|frac|times|text\{|sum|begin\{)|\$\$")
PATH_MARKERS = ("/tmp/", "/root/", "/home/", "/work/", "PosixPath(")
FLOAT_COUNT = re.compile(r"^-?\d+\.0$")
MISSING_CELL = {"", "nan", "NaN", "<NA>", "None", "-", "–", "—"}
_WORD = re.compile(r"^[A-Za-z]+(?:['’-][A-Za-z]+)*[.,;:!?)\]]*$")


# --------------------------------------------------------------------------------------------------- pure helpers
def is_prose_line(line: str) -> bool:
    """At least 8 words of letters, and ends with '.' or contains ', '."""
    stripped = line.strip()
    words = [w.lstrip("([\"'“") for w in stripped.split()]
    if sum(1 for w in words if _WORD.match(w)) < 8:
        return False
    return stripped.endswith(".") or ", " in stripped


def is_prose_block(text: str) -> bool:
    """At least half of the non-blank lines are prose lines (:func:`is_prose_line`)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return bool(lines) and 2 * sum(map(is_prose_line, lines)) >= len(lines)


def float_count_columns(table: dict) -> list[tuple[int, str, int]]:
    """Columns of ``table`` (``{"header": [...], "bodies": [[[tag, text, colspan], ...] rows]}``) whose non-missing
    ``td`` cells (at least 2) all match :data:`FLOAT_COUNT`: a list of (column index, header, number of cells)."""
    columns: dict[int, list[str]] = {}
    for body in table.get("bodies", []):
        for row in body:
            position = 0
            for tag, text, span in row:
                if tag == "td" and span == 1:
                    columns.setdefault(position, []).append(text.strip())
                position += max(1, int(span))
    header = table.get("header", [])
    found = []
    for index, cells in sorted(columns.items()):
        values = [c for c in cells if c not in MISSING_CELL]
        if len(values) >= 2 and all(FLOAT_COUNT.match(v) for v in values):
            found.append((index, header[index] if index < len(header) else "", len(values)))
    return found


def path_patterns(html_dir: Path) -> list[str]:
    """The strings that betray the build machine: :data:`PATH_MARKERS`, the build folder and the repository root."""
    patterns = list(PATH_MARKERS)
    for extra in (html_dir.resolve().parent, ROOT):
        text = str(extra)
        if len(text) > 1 and not any(m in text + "/" for m in PATH_MARKERS[:4]):
            patterns.append(text)
    return patterns


def _is_redirect(page: Path) -> bool:
    head = page.read_text(errors="replace")[:2000].lower()
    return 'http-equiv="refresh"' in head


def book_pages(html_dir: Path, toc: Path | None = None) -> list[Path]:
    """The pages to check: the table of contents' order first, then the other pages (sorted)."""
    html_dir = Path(html_dir)
    if toc is None:
        for candidate in (html_dir.parent / "src" / "_toc.yml", ROOT / "_toc.yml"):
            if candidate.exists():
                toc = candidate
                break
    ordered: list[Path] = []
    if toc is not None and toc.exists():
        import yaml

        data = yaml.safe_load(toc.read_text()) or {}
        files = [data["root"]] if data.get("root") else []

        def walk(entries):
            for entry in entries or []:
                if "file" in entry:
                    files.append(entry["file"])
                walk(entry.get("sections"))

        for part in data.get("parts", []):
            walk(part.get("chapters"))
        walk(data.get("chapters"))
        for name in files:
            page = html_dir / f"{Path(name).with_suffix('')}.html"
            if page.exists() and page not in ordered:
                ordered.append(page)
    rest = sorted(p for p in html_dir.rglob("*.html")
                  if not SKIP_DIRS & set(p.relative_to(html_dir).parts) and p.name not in SKIP_PAGES)
    ordered += [p for p in rest if p not in ordered and not _is_redirect(p)]
    return ordered


# --------------------------------------------------------------------------------------------------- results
@dataclass
class Finding:
    page: str
    viewport: int
    check: str
    element: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.page} @{self.viewport}px {self.check}: {self.element}{extra}"


@dataclass
class PageResult:
    page: str
    audio_present: int = 0
    audio_loaded: int = 0
    screenshots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Report:
    html_dir: str
    pages: list[PageResult]
    findings: list[Finding]
    seconds: float = 0.0

    def count(self, check: str, page: str | None = None) -> int:
        return sum(1 for f in self.findings if f.check == check and (page is None or f.page == page))

    def counts(self, page: str | None = None) -> dict[str, int]:
        return {c: self.count(c, page) for c in CHECK_IDS}

    @property
    def audio_present(self) -> int:
        return sum(p.audio_present for p in self.pages)

    @property
    def audio_loaded(self) -> int:
        return sum(p.audio_loaded for p in self.pages)

    def to_json(self) -> dict:
        return {
            "html_dir": self.html_dir, "viewports": list(VIEWPORTS), "seconds": round(self.seconds, 1),
            "checks": {c: d for c, _, d in CHECKS},
            "totals": {**self.counts(), "audio_present": self.audio_present, "audio_loaded": self.audio_loaded},
            "pages": [{**asdict(p), "counts": self.counts(p.page)} for p in self.pages],
            "findings": [asdict(f) for f in self.findings],
        }

    def summary(self) -> str:
        width = max([len(p.page) for p in self.pages] + [5])
        heads = [h for _, h, _ in CHECKS]
        line = f"{'page':<{width}} " + " ".join(f"{h:>5}" for h in heads) + "  audio(loaded/present)   s"
        out = [line, "-" * len(line)]
        for p in self.pages:
            counts = self.counts(p.page)
            out.append(f"{p.page:<{width}} " + " ".join(f"{counts[c]:>5}" for c in CHECK_IDS)
                       + f"  {p.audio_loaded:>6}/{p.audio_present:<6}     {p.seconds:5.1f}")
        totals = self.counts()
        out.append("-" * len(line))
        out.append(f"{'TOTAL':<{width}} " + " ".join(f"{totals[c]:>5}" for c in CHECK_IDS)
                   + f"  {self.audio_loaded:>6}/{self.audio_present:<6}     {self.seconds:5.1f}")
        out.append("")
        for check, head, description in CHECKS:
            out.append(f"{head:>5} = {check}: {description}")
        return "\n".join(out)


# --------------------------------------------------------------------------------------------------- browser
@contextmanager
def open_browser(page_load_timeout: float = 60):
    """Headless Debian chromium with a fresh profile (removed afterwards)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    profile = tempfile.mkdtemp(prefix="check-pages-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--allow-file-access-from-files", "--hide-scrollbars",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
                 f"--window-size={VIEWPORTS[0]},{VIEWPORT_HEIGHT}"):
        options.add_argument(flag)
    browser = None
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
        browser.set_page_load_timeout(page_load_timeout)
        browser.set_script_timeout(60)
        yield browser
    finally:
        if browser is not None:
            browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(browser, width: int, height: int = VIEWPORT_HEIGHT) -> None:
    """The page laid out in a ``width`` x ``height`` CSS-pixel viewport (device scale factor 1), after two frames."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    browser.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")


def screenshot(browser, path: Path, width: int) -> str:
    """A full-page PNG: the viewport is made as tall as the page, then captured in slices of
    :data:`SCREENSHOT_SLICE` px that are stitched (a ``captureBeyondViewport`` capture of a page taller than about
    20000 px comes back partly blank here). Pages taller than :data:`MAX_SCREENSHOT_HEIGHT` are cut. Returns a note
    when the page was cut."""
    import base64
    import io

    from PIL import Image

    browser.execute_script("window.scrollTo(0, 0);")
    full_height = int(browser.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);"))
    height = min(full_height, MAX_SCREENSHOT_HEIGHT)
    set_viewport(browser, width, height)
    image = Image.new("RGB", (width, height), "white")
    try:
        for top in range(0, height, SCREENSHOT_SLICE):
            clip = {"x": 0, "y": top, "width": width, "height": min(SCREENSHOT_SLICE, height - top), "scale": 1}
            shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
            with Image.open(io.BytesIO(base64.b64decode(shot["data"]))) as part:
                image.paste(part.convert("RGB"), (0, top))
    finally:
        set_viewport(browser, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return f"screenshot at {width}px cut at {height} of {full_height} px" if height < full_height else ""


# Waits for MathJax's first typesetting and for the fonts (bounded by the timeout given as arguments[0], in ms).
WAIT_JS = """
const done = arguments[arguments.length - 1];
const timer = setTimeout(() => done('timeout'), arguments[0]);
const finish = state => { clearTimeout(timer); document.fonts.ready.then(() => done(state)); };
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => finish('typeset')).catch(e => finish('error: ' + e));
} else { finish(document.querySelector('.math, mjx-container') ? 'no MathJax' : 'no math'); }
"""

# Shared helpers of the page scripts.
HELPERS_JS = r"""
const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const AUTHOR_CODE = '.cell_input, div[class*="highlight-"]:not(.cell_output *)';
const TEXT_BLOCKS = 'p, li, td, th, pre, caption, figcaption, dt, dd, h1, h2, h3, h4, h5, h6';
function desc(e) {
  let s = e.tagName.toLowerCase();
  if (e.id) s += '#' + e.id;
  const cls = (e.getAttribute('class') || '').trim().split(/\s+/).filter(Boolean).slice(0, 3);
  if (cls.length) s += '.' + cls.join('.');
  let a = e.parentElement;
  while (a && !a.id) a = a.parentElement;
  if (a && a !== document.body) s += ' in #' + a.id;
  const text = (e.innerText || e.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 60);
  return s + ' "' + text + '"';
}
function columnBox() {
  const cs = getComputedStyle(column), r = column.getBoundingClientRect();
  const left = r.left + column.clientLeft + parseFloat(cs.paddingLeft);
  const width = column.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return {left, width};
}
function shown(e) {
  return e.checkVisibility ? e.checkVisibility() : !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
}
// Text matches of `pattern` (a RegExp source, global) in the visible text outside `exclude`; `pre` blocks are read
// whole (innerText) so that highlighted spans do not split a match.
function scanText(source, exclude, readPre) {
  const found = [];
  const re = new RegExp(source, 'g');
  const skip = n => n.parentElement && n.parentElement.closest(exclude);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const blocks = [];
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (!n.nodeValue.trim() || skip(n)) continue;
    if (readPre && n.parentElement.closest('pre')) continue;
    if (!shown(n.parentElement)) continue;
    blocks.push([n.nodeValue, n.parentElement]);
  }
  if (readPre) {
    document.querySelectorAll('pre').forEach(p => {
      if (!p.closest(exclude) && shown(p)) blocks.push([p.innerText, p]);
    });
  }
  for (const [text, el] of blocks) {
    const matches = Array.from(text.matchAll(re));
    if (!matches.length) continue;
    const at = matches[0].index;
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const line = text.slice(Math.max(lineStart, at - 40)).split('\n')[0].trim();
    found.push({matches: Array.from(new Set(matches.map(m => m[0]))), line: line.slice(0, 120),
                element: desc(el.closest(TEXT_BLOCKS) || el)});
  }
  return found;
}
"""

# Width-dependent checks (run at every viewport): too_wide and clipped_caption.
WIDTH_JS = HELPERS_JS + f"const NARROW_MAX_PX = {NARROW_MAX_PX};\n" + r"""
const box = columnBox();
// A main-flow table (.ga-table) must fit the column at desktop widths; on a phone it may scroll sideways.
const narrow = document.documentElement.clientWidth < NARROW_MAX_PX;
const wide = [];
column.querySelectorAll('pre, .cell_output, table').forEach(e => {
  if (e.closest('.ga-scroll') || (narrow && e.closest('.ga-table')) || (e.tagName === 'PRE' && e.closest(AUTHOR_CODE))
      || !shown(e)) return;
  const w = Math.max(e.scrollWidth, e.getBoundingClientRect().width);
  if (w > box.width + 1) wide.push([e, w]);
});
const tooWide = wide.filter(([e]) => !wide.some(([o]) => o !== e && e.contains(o)))
  .map(([e, w]) => ({element: desc(e), detail: `${Math.round(w)} px > column ${Math.round(box.width)} px`}));
const clipped = [];
column.querySelectorAll('caption, figcaption').forEach(c => {
  if (!shown(c)) return;
  let left = Infinity, right = -Infinity;
  const walker = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (!n.nodeValue.trim() || n.parentElement.closest('.headerlink')) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) {
      if (r.width > 0) { left = Math.min(left, r.left); right = Math.max(right, r.right); }
    }
  }
  if (left === Infinity) return;
  let visLeft = 0, visRight = document.documentElement.clientWidth;
  for (let a = c.parentElement; a && a !== document.documentElement; a = a.parentElement) {
    const ox = getComputedStyle(a).overflowX;
    if (ox !== 'visible') {
      const r = a.getBoundingClientRect();
      visLeft = Math.max(visLeft, r.left + a.clientLeft);
      visRight = Math.min(visRight, r.left + a.clientLeft + a.clientWidth);
    }
  }
  if (left < visLeft - 1 || right > visRight + 1) {
    const r = Math.round;
    clipped.push({element: desc(c),
                  detail: `text spans ${r(left)}..${r(right)} px, visible ${r(visLeft)}..${r(visRight)} px`});
  }
});
return {too_wide: tooWide, clipped_caption: clipped};
"""

# Checks measured once, at the first viewport.
ONCE_JS = HELPERS_JS + r"""
const pathSource = arguments[0], latexSource = arguments[1];
const out = {};
out.prose_blocks = Array.from(column.querySelectorAll('.cell_output pre')).filter(shown)
  .map(p => ({element: desc(p), text: p.innerText}));
out.snake_case_header = Array.from(column.querySelectorAll('th')).filter(th => th.innerText.includes('_'))
  .map(th => ({element: desc(th)}));
out.tables = Array.from(column.querySelectorAll('table')).map(t => {
  const headRows = t.tHead ? Array.from(t.tHead.rows) : [];
  const header = [];
  if (headRows.length) {
    for (const cell of headRows[headRows.length - 1].cells) {
      for (let i = 0; i < (cell.colSpan || 1); i++) header.push(cell.innerText.trim());
    }
  }
  const bodies = Array.from(t.tBodies).map(b => Array.from(b.rows).map(r => Array.from(r.cells)
    .map(c => [c.tagName.toLowerCase(), c.innerText, c.colSpan || 1])));
  return {element: desc(t), header, bodies};
});
out.build_path = scanText(pathSource, 'script, style, noscript, template, textarea, ' + AUTHOR_CODE, true);
const NOT_PROSE = 'pre, code, script, style, noscript, template, textarea, mjx-container, .MathJax';
const latex = scanText(latexSource, NOT_PROSE, false)
  .map(f => ({element: f.element, detail: 'raw LaTeX ' + f.matches.map(m => JSON.stringify(m)).join(' ')}));
const merrors = Array.from(document.querySelectorAll('mjx-merror, .MathJax_Error, [data-mjx-error]'))
  .map(e => ({element: desc(e.closest('mjx-container') || e),
               detail: 'MathJax error ' + (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80)}));
out.math_error = merrors.concat(latex);
out.images = Array.from(document.images)
  .filter(i => !i.closest('.navbar-brand, .logo, .sidebar-brand') && !i.classList.contains('logo__image'))
  .map(i => ({element: desc(i), src: i.getAttribute('src') || '', alt: i.getAttribute('alt')}));
out.links = Array.from(document.querySelectorAll('a[href]')).map(a => ({href: a.href, element: desc(a)}));
const rows = [];
column.querySelectorAll('tr').forEach(tr => {
  if (!shown(tr)) return;
  const h = tr.getBoundingClientRect().height;
  let limit = 0;
  for (const c of tr.cells) {
    const cs = getComputedStyle(c);
    let lh = parseFloat(cs.lineHeight);
    if (isNaN(lh)) lh = 1.2 * parseFloat(cs.fontSize);
    const pad = ['paddingTop', 'paddingBottom', 'borderTopWidth', 'borderBottomWidth']
      .reduce((s, k) => s + (parseFloat(cs[k]) || 0), 0);
    limit = Math.max(limit, 3 * lh + pad);
  }
  if (limit > 0 && h > limit + 1) {
    rows.push({element: desc(tr), detail: `${Math.round(h)} px > ${Math.round(limit)} px (3 lines)`});
  }
});
out.tall_row = rows;
return out;
"""

# Every <audio> asked to load its metadata; resolves when all are loaded or failed, or after arguments[0] ms.
AUDIO_JS = HELPERS_JS + r"""
const done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll('audio'));
const loaded = a => a.readyState >= 1 && a.duration > 0;
audios.forEach(a => { if (!loaded(a) && !a.error) { a.preload = 'metadata'; a.load(); } });
const start = Date.now();
const report = () => done(audios.map(a => ({element: desc(a), loaded: loaded(a), readyState: a.readyState,
  duration: isFinite(a.duration) ? a.duration : String(a.duration), error: a.error ? a.error.code : null,
  src: (a.currentSrc || a.getAttribute('src') || '').slice(0, 80)})));
const poll = () => {
  if (audios.every(a => loaded(a) || a.error) || Date.now() - start > arguments[0]) report();
  else setTimeout(poll, 100);
};
poll();
"""


def link_findings(links: list[dict], cache: dict[Path, set[str]]) -> list[tuple[str, str]]:
    """``(element, what is missing)`` for each internal link (``{"href", "element"}``) whose file or anchor is absent
    (``cache``: the ids of each page read so far)."""
    found = []
    for link in links:
        url = urlparse(link["href"])
        if url.scheme != "file":
            continue
        target = Path(unquote(url.path))
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            found.append((link["element"], f"missing file {target.name}"))
        elif url.fragment and target.suffix == ".html":
            if target not in cache:
                cache[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text(errors="replace")))
            if unquote(url.fragment) not in cache[target]:
                found.append((link["element"], f"missing anchor #{url.fragment} in {target.name}"))
    return found


def _image_problem(src: str, alt: str | None) -> str:
    if alt is None:
        return "no alt attribute"
    if not alt.strip():
        return "empty alt"
    names = {src, unquote(src), Path(urlparse(src).path).name, Path(unquote(urlparse(src).path)).name}
    if alt.strip() in names or alt.strip() == Path(alt.strip()).name and Path(alt.strip()).suffix.lower() in {
            ".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp"}:
        return f"alt is the file name {alt.strip()[:60]!r}"
    return ""


def check_page(browser, page: Path, html_dir: Path, *, screenshots: Path | None = None, index: int = 0,
               viewports: tuple[int, ...] = VIEWPORTS, audio_timeout: float = 10.0, math_timeout: float = 30.0,
               link_cache: dict | None = None) -> tuple[PageResult, list[Finding]]:
    """Open ``page`` and run every check; returns the page's result and its findings."""
    start = time.perf_counter()
    name = page.relative_to(html_dir).with_suffix("").as_posix()
    result, findings = PageResult(page=name), []

    def add(check, viewport, element, detail=""):
        findings.append(Finding(page=name, viewport=viewport, check=check, element=element, detail=detail))

    first = viewports[0]
    set_viewport(browser, first)
    browser.get(page.as_uri())
    state = browser.execute_async_script(WAIT_JS, int(math_timeout * 1000))
    if state not in ("typeset", "no math"):
        add("math_error", first, "page", f"MathJax {state}")
    once = browser.execute_script(ONCE_JS, "|".join(re.escape(p) for p in path_patterns(html_dir)),
                                  RAW_LATEX.pattern)
    for block in once["prose_blocks"]:
        if is_prose_block(block["text"]):
            first_line = next((ln.strip() for ln in block["text"].splitlines() if ln.strip()), "")
            add("prose_output", first, block["element"], first_line[:80])
    for item in once["snake_case_header"]:
        add("snake_case_header", first, item["element"])
    for table in once["tables"]:
        for column, header, cells in float_count_columns(table):
            add("float_count_column", first, table["element"], f"column {column + 1} {header!r}: {cells} cells")
    for item in once["build_path"]:
        add("build_path", first, item["element"], f"{' '.join(item['matches'])} in {item['line']!r}")
    for item in once["math_error"]:
        add("math_error", first, item["element"], item["detail"])
    for image in once["images"]:
        problem = _image_problem(image["src"], image["alt"])
        if problem:
            add("img_alt_is_filename" if problem.startswith("alt is") else "img_without_alt", first,
                image["element"], problem)
    for element, detail in link_findings(once["links"], link_cache if link_cache is not None else {}):
        add("broken_link", first, element, detail)
    for item in once["tall_row"]:
        add("tall_row", first, item["element"], item["detail"])
    audios = browser.execute_async_script(AUDIO_JS, int(audio_timeout * 1000))
    result.audio_present = len(audios)
    result.audio_loaded = sum(1 for a in audios if a["loaded"])
    for audio in audios:
        if not audio["loaded"]:
            add("audio_not_loaded", first, audio["element"],
                f"readyState {audio['readyState']}, duration {audio['duration']}, error {audio['error']}, "
                f"src {audio['src']}")
    for width in viewports:
        set_viewport(browser, width)
        measured = browser.execute_script(WIDTH_JS)
        for check in ("too_wide", "clipped_caption"):
            for item in measured[check]:
                add(check, width, item["element"], item["detail"])
        if screenshots is not None:
            stem = name.replace("/", "-")
            path = Path(screenshots) / f"{index:02d}-{stem}-{width}px.png"
            note = screenshot(browser, path, width)
            result.screenshots.append(str(path))
            if note:
                result.notes.append(note)
    result.seconds = time.perf_counter() - start
    return result, findings


def check_book(html_dir: Path, *, screenshots: Path | None = None, viewports: tuple[int, ...] = VIEWPORTS,
               pages: list[Path] | None = None, audio_timeout: float = 10.0, log=None) -> Report:
    """Run every check on every page of the built book in ``html_dir`` (see the module's docstring)."""
    html_dir = Path(html_dir).resolve()
    if not html_dir.is_dir():
        raise ValueError(f"html_dir must be a built book's html folder, got {str(html_dir)!r} (not a folder)")
    pages = book_pages(html_dir) if pages is None else [Path(p).resolve() for p in pages]
    if not pages:
        raise ValueError(f"no HTML page to check in {str(html_dir)!r}")
    start = time.perf_counter()
    results, findings, cache = [], [], {}
    with open_browser() as browser:
        for index, page in enumerate(pages):
            result, found = check_page(browser, page, html_dir, screenshots=screenshots, index=index,
                                       viewports=viewports, audio_timeout=audio_timeout, link_cache=cache)
            results.append(result)
            findings += found
            if log:
                log(f"{result.page}: {len(found)} findings, {result.seconds:.1f} s")
    return Report(html_dir=str(html_dir), pages=results, findings=findings, seconds=time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html_dir", type=Path, help="the built book's html folder (e.g. _build/html)")
    parser.add_argument("--screenshots", type=Path, help="folder for full-page PNGs of every page at both widths")
    parser.add_argument("--json", type=Path, help="write every finding and the counts as JSON here")
    parser.add_argument("--audio-timeout", type=float, default=10.0, help="seconds a page's players get to load")
    parser.add_argument("--enforce", default="",
                        help=f"comma-separated checks that must be 0 (exit status 1 otherwise); from {CHECK_IDS}")
    parser.add_argument("--quiet", action="store_true", help="no per-page progress, no findings list")
    args = parser.parse_args(argv)
    enforce = [c for c in args.enforce.split(",") if c]
    unknown = [c for c in enforce if c not in CHECK_IDS]
    if unknown:
        parser.error(f"unknown check(s) {unknown} for --enforce; valid: {', '.join(CHECK_IDS)}")
    if not args.html_dir.is_dir():
        parser.error(f"html_dir {str(args.html_dir)!r} is not a folder")
    report = check_book(args.html_dir, screenshots=args.screenshots, audio_timeout=args.audio_timeout,
                        log=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)))
    if not args.quiet:
        for finding in report.findings:
            print(finding)
        print()
    print(report.summary())
    for page in report.pages:
        for note in page.notes:
            print(f"note: {page.page}: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    failed = [c for c in enforce if report.count(c)]
    if failed:
        print(f"enforced checks failing: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
