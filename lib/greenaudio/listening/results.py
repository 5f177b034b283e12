"""Ingests and validates the result files that raters download from the listening-test page.

Every file goes through the same checks, in this order, and ends in exactly one status:

1. **rejected** (the file cannot be trusted), with the reason: not a regular file, larger than
   :data:`MAX_FILE_BYTES`, not UTF-8, not JSON (``NaN``/``Infinity``, a key twice in one object, an integer too long
   to read), nested deeper than :data:`MAX_DEPTH`, another ``schema``, a ``schema_version`` other than
   :data:`~greenaudio.listening.page.SCHEMA_VERSION`, missing or mistyped fields, a rater id or page version outside
   the page's own patterns, no trial or no rating, a score outside 1-5, a stimulus (or an utterance/condition pair)
   rated twice, a condition that is not a ``<model>-<size>`` name, ``ground_truth`` or ``anchor``, model/size/kind
   that do not match the condition, or a checksum that does not match the ratings (the file was edited after
   download: "tampered"). With the page's manifest (``manifest=``, :func:`load_manifest`; the book's page passes the
   page it built), also: another page version, another number of trials, a stimulus the page did not serve, or a
   stimulus whose utterance/condition differ from the page's, and a headphone result that the answers contradict.
   One bad file never stops the ingest: whatever is wrong with it (even an unexpected error) ends as its reason;
2. files with different ``page_version`` (different trial sets) are refused with a ValueError unless
   ``allow_mixed_versions=True``;
3. **duplicate**: a byte-for-byte copy of a file already read (same checksum) is ignored; **excluded**: a rater id that
   appears in two different files (all its files are excluded: no way to know which is genuine);
4. **excluded**: incomplete session (fewer ratings than trials);
5. **excluded** by the screening rule (:class:`ScreeningRule`): by default a rater who rates the hidden reference
   below 3 in more than 25 % of its trials (cf. the post-screening of ITU-R BS.1534 / P.808, adapted to ACR);
6. otherwise **accepted**.

Only checked fields reach :attr:`ListeningResults.ratings` (a rating's other keys are ignored), so every value there
is a name of the page's patterns or an integer in range. The counts of each status are kept
(:meth:`ListeningResults.counts`) so a chapter can state them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..validation import check_bool, check_int, check_positive_int
from .page import ANCHOR, REFERENCE, SCHEMA, SCHEMA_VERSION, PageBuild

__all__ = ["ListeningResults", "PageManifest", "load_results", "load_manifest", "canonical_text",
           "default_results_dir"]

RATING_COLUMNS = ["rater_id", "page_version", "index", "stimulus", "utterance", "condition", "model", "size", "kind",
                  "score", "presented_ms", "first_play_ms", "ended_ms", "rated_ms", "plays", "file"]
_TIMES = ("presented_ms", "first_play_ms", "ended_ms", "rated_ms")

#: Largest result file read (bytes). A page's file holds about 300 bytes per trial: 4 MiB is > 10 000 trials.
MAX_FILE_BYTES = 4 * 2 ** 20
#: Deepest nesting of JSON arrays/objects in a result file (the page writes 3: file, ratings, rating).
MAX_DEPTH = 8
#: Most trials (and headphone answers) a result file may declare.
MAX_TRIALS = 100_000
_MAX_HEADPHONE_ANSWERS = 100
_MAX_MS = 2 ** 53  # JavaScript's largest exact integer (Date.now() is far below)
# The page's own patterns: rater ids (the page's ?rater= rule and its random ids), page versions (16 hex digits of
# SHA-256), utterance ids and the two halves of <model>-<size> (page.discover_samples), stimulus ids.
_RATER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PAGE_VERSION = re.compile(r"[0-9a-f]{16}")
_NAME = re.compile(r"[A-Za-z0-9_.]{1,64}")
_SYSTEM = re.compile(r"[A-Za-z0-9_.]{1,64}-[A-Za-z0-9_.]{1,64}")
_STIMULUS = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REASON_CHARS = 400


def default_results_dir() -> Path:
    """``listening-results/`` at the repository root (where a teacher puts the raters' files)."""
    return Path(__file__).resolve().parents[3] / "listening-results"


@dataclass(frozen=True)
class ScreeningRule:
    """Post-screening of raters (stated in the chapter with the counts it excluded).

    Attributes:
        reference_below: a rating of the hidden reference strictly below this score counts as a miss (1-5 scale).
        max_fraction: a rater is excluded when the fraction of misses exceeds this (0-1).
        require_headphone_check: also exclude raters who failed the headphone check.
    """

    reference_below: int = 3
    max_fraction: float = 0.25
    require_headphone_check: bool = False

    def __post_init__(self):
        if not 1 <= self.reference_below <= 5:
            raise ValueError(f"reference_below must be a score 1-5, got {self.reference_below}")
        if not 0 <= self.max_fraction <= 1:
            raise ValueError(f"max_fraction must be in [0, 1], got {self.max_fraction}")

    def describe(self) -> str:
        text = (f"raters who rated the hidden reference below {self.reference_below} in more than "
                f"{self.max_fraction:.0%} of its trials are excluded")
        return text + ("; so are raters who failed the headphone check" if self.require_headphone_check else "")


@dataclass
class ListeningResults:
    """Accepted ratings and the fate of every file.

    Attributes:
        ratings: one row per rating of an accepted session (columns :data:`RATING_COLUMNS`).
        sessions: one row per file: ``file``, ``rater_id``, ``page_version``, ``status`` (accepted, excluded,
            rejected, duplicate), ``reason``, ``n_ratings``, ``headphones_passed``.
        screening: the rule applied.
    """

    ratings: pd.DataFrame
    sessions: pd.DataFrame
    screening: ScreeningRule = field(default_factory=ScreeningRule)

    @property
    def page_versions(self) -> list[str]:
        return sorted(self.ratings["page_version"].unique())

    def counts(self) -> dict[str, int]:
        """Number of files per status (``accepted``, ``excluded``, ``rejected``, ``duplicate``) and ``raters``."""
        status = self.sessions["status"] if len(self.sessions) else pd.Series(dtype=str)
        out = {s: int((status == s).sum()) for s in ("accepted", "excluded", "rejected", "duplicate")}
        out["raters"] = int(self.ratings["rater_id"].nunique()) if len(self.ratings) else 0
        return out

    def summary(self) -> str:
        """One sentence with the counts, for captions."""
        c = self.counts()
        return (f"{c['accepted']} rater(s) accepted, {c['excluded']} excluded (incomplete, duplicate id or screening: "
                f"{self.screening.describe()}), {c['rejected']} file(s) rejected as malformed or tampered, "
                f"{c['duplicate']} duplicate copy(ies) ignored")


def canonical_text(result: dict) -> str:
    """The text whose SHA-256 is a result file's checksum (the page computes the same in JavaScript).

    Lines joined by ``\\n``: schema, schema_version, rater_id, page_version, n_trials, ``complete``/``incomplete``,
    ``headphones<TAB>`` + the headphone answers joined by commas, then one line per rating: index, stimulus,
    utterance, condition, score, presented_ms, first_play_ms, ended_ms, rated_ms, plays joined by tabs (integers
    in decimal, a missing time as ``null``).
    """
    def fmt(v):
        return "null" if v is None else str(v)

    lines = [str(result["schema"]), str(result["schema_version"]), str(result["rater_id"]), str(result["page_version"]),
             str(result["n_trials"]), "complete" if result["complete"] else "incomplete",
             "headphones\t" + ",".join(str(a) for a in result["headphone_check"]["answers"])]
    for r in result["ratings"]:
        lines.append("\t".join(fmt(r[k]) for k in ("index", "stimulus", "utterance", "condition", "score", *_TIMES,
                                                     "plays")))
    return "\n".join(lines)


def compute_checksum(result: dict) -> str:
    """SHA-256 (hex) of :func:`canonical_text`."""
    return hashlib.sha256(canonical_text(result).encode("utf-8")).hexdigest()


class _Reject(Exception):
    pass


def _short(value, limit: int = 60) -> str:
    """``repr`` of a value from a file, cut to ``limit`` characters (reasons stay readable whatever the file holds)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_condition(name) -> bool:
    """A condition name the page builder can write: ``<model>-<size>`` of [A-Za-z0-9_.], ground_truth or anchor."""
    return isinstance(name, str) and (name in (REFERENCE, ANCHOR) or _SYSTEM.fullmatch(name) is not None)


def _describe(condition: str) -> tuple[str, str, str]:
    """(model, size, kind) of a condition name, as the page builder writes them."""
    if condition in (REFERENCE, ANCHOR):
        return condition, "", "reference" if condition == REFERENCE else "anchor"
    model, _, size = condition.rpartition("-")
    return model, size, "system"


@dataclass(frozen=True)
class PageManifest:
    """What a built listening-test page served: the reference a result file is checked against.

    Attributes:
        page_version: the page's version ("" for a page built without samples).
        trials: stimulus id -> (utterance, condition), for every stimulus the page served.
        conditions: the page's condition names.
        headphone_answers: the right answer of each headphone-check clip.
    """

    page_version: str
    trials: Mapping[str, tuple[str, str]]
    conditions: tuple[str, ...] = ()
    headphone_answers: tuple[int, ...] = ()


def load_manifest(source: "PageBuild | str | os.PathLike | Mapping") -> PageManifest:
    """The trial set of a built page, from :func:`~greenaudio.listening.page.build_test_page`'s output.

    Args:
        source: a :class:`~greenaudio.listening.page.PageBuild`, the app folder, its ``manifest.json``, or the parsed
            manifest. A page built without samples gives a manifest with no trial (every result file is then
            rejected: the page served nothing to rate).

    Returns:
        a :class:`PageManifest`.

    Raises:
        ValueError: a manifest that cannot be read or is not a listening-test manifest, naming the file.
    """
    where = "manifest"
    if isinstance(source, PageBuild):
        if not source.built:
            return PageManifest(page_version="", trials={})
        source = source.out_dir
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        path = path / "manifest.json" if path.is_dir() else path
        where = str(path)
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"manifest {where} cannot be read ({err.__class__.__name__}: {err}); rebuild the page "
                             "with greenaudio.listening.build_test_page") from None
    if not isinstance(source, Mapping):
        raise ValueError(f"manifest must be a PageBuild, a path or a mapping, got {type(source).__name__}")

    def bad(what):
        return ValueError(f"{where} is not a listening-test manifest: {what}")

    if source.get("schema") != SCHEMA or source.get("schema_version") != SCHEMA_VERSION:
        raise bad(f"schema {_short(source.get('schema'))} version {_short(source.get('schema_version'))}, expected "
                  f"{SCHEMA!r} version {SCHEMA_VERSION}")
    version = source.get("page_version")
    if not isinstance(version, str) or not _PAGE_VERSION.fullmatch(version):
        raise bad(f"page_version {_short(version)} is not 16 hex digits")
    trials: dict[str, tuple[str, str]] = {}
    for t in source.get("trials") if isinstance(source.get("trials"), list) else [None]:
        if not isinstance(t, dict):
            raise bad("'trials' is not a list of objects")
        stimulus, utterance, condition = t.get("stimulus"), t.get("utterance"), t.get("condition")
        if not (isinstance(stimulus, str) and _STIMULUS.fullmatch(stimulus) and isinstance(utterance, str)
                and _NAME.fullmatch(utterance) and _is_condition(condition)) or stimulus in trials:
            raise bad(f"trial {_short(t, 120)} has a malformed or repeated stimulus, utterance or condition")
        trials[stimulus] = (utterance, condition)
    checks = source.get("headphone_check", [])
    if not isinstance(checks, list) or not all(isinstance(c, dict) and _is_int(c.get("answer")) for c in checks):
        raise bad("'headphone_check' is not a list of objects with an integer 'answer'")
    conditions = tuple(dict.fromkeys(c for _, c in trials.values()))
    return PageManifest(page_version=version, trials=trials, conditions=conditions,
                        headphone_answers=tuple(c["answer"] for c in checks))


def _read(path: Path, max_bytes: int) -> bytes:
    """The bytes of a result file, refusing anything that is not a regular file or is larger than ``max_bytes``."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _Reject("not a regular file")
        if info.st_size > max_bytes:
            raise _Reject(f"file of {info.st_size} bytes is larger than the {max_bytes} bytes a result file may have")
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as err:
        raise _Reject(f"cannot be read ({err.__class__.__name__}: {err.strerror or err})") from None
    if len(raw) > max_bytes:  # grew while being read
        raise _Reject(f"file is larger than the {max_bytes} bytes a result file may have")
    return raw


def _no_constant(name: str):
    raise _Reject(f"not valid JSON: {name} is not a JSON number")


def _unique_keys(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _Reject(f"key {_short(twice)} appears twice in one JSON object")
    return out


def _depth(data) -> int:
    """Deepest nesting of lists/dicts (iterative: a deep file cannot exhaust the stack here)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _parse(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Reject(f"not UTF-8 text (invalid byte at offset {err.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _Reject(f"not valid JSON: nested too deeply to be read (more than {MAX_DEPTH} levels allowed)") from None
    except ValueError as err:  # json.JSONDecodeError, or an integer with too many digits
        if not isinstance(err, json.JSONDecodeError) and "digits" in str(err):
            raise _Reject("not valid JSON: an integer has too many digits to be read") from None
        raise _Reject(f"not valid JSON ({err.__class__.__name__}: {str(err)[:120]})") from None
    if _depth(data) > MAX_DEPTH:
        raise _Reject(f"JSON nested deeper than {MAX_DEPTH} levels")
    return data


def _check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """greenaudio.validation.check_int, with the bad value cut short, as a rejection."""
    try:
        return check_int(name, value, min_value=min_value, max_value=max_value)
    except ValueError:
        low = "" if min_value is None else f" >= {min_value}"
        high = "" if max_value is None else f"{' and' if low else ''} <= {max_value}"
        raise _Reject(f"{name} must be an integer{low}{high}, got {_short(value)}") from None


def _check_file(data, manifest: PageManifest | None = None) -> dict:
    """The checked content of a parsed result file (only checked fields); raise _Reject with the reason otherwise."""
    n_trials = _check_header(data, manifest)
    answers, passed = _check_headphones(data["headphone_check"], manifest)
    seen: dict[str, int] = {}
    pairs: dict[tuple[str, str], str] = {}
    ratings = []
    for i, r in enumerate(data["ratings"]):
        rating = _check_rating(i, r, manifest)
        stimulus, utterance, condition = rating["stimulus"], rating["utterance"], rating["condition"]
        if stimulus in seen:
            raise _Reject(f"stimulus {stimulus} is rated twice")
        if (utterance, condition) in pairs:
            raise _Reject(f"utterance {utterance} / condition {condition} is rated twice (stimuli "
                          f"{pairs[(utterance, condition)]} and {stimulus})")
        seen[stimulus] = i
        pairs[(utterance, condition)] = stimulus
        ratings.append(rating)
    checksum = data["checksum"]
    if checksum.get("algorithm") != "sha256":
        raise _Reject(f"checksum algorithm {_short(checksum.get('algorithm'))} is not supported (valid: 'sha256')")
    value = checksum.get("value")
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise _Reject(f"checksum value {_short(value)} is not 64 hexadecimal digits")
    clean = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "rater_id": data["rater_id"],
             "page_version": data["page_version"], "n_trials": n_trials, "complete": data["complete"],
             "headphone_check": {"answers": answers, "passed": passed}, "ratings": ratings}
    if value != compute_checksum(clean):
        raise _Reject("checksum does not match the ratings (the file was edited after download)")
    clean["checksum"] = value
    return clean


def _check_header(data, manifest: PageManifest | None) -> int:
    """The file's fields before its headphone check and ratings, checked; returns ``n_trials``."""
    if not isinstance(data, dict):
        raise _Reject("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise _Reject(f"schema is {_short(data.get('schema'))}, expected {SCHEMA!r}")
    if not _is_int(data.get("schema_version")) or data["schema_version"] != SCHEMA_VERSION:
        raise _Reject(f"schema_version {_short(data.get('schema_version'))} is not supported (valid: {SCHEMA_VERSION})")
    for key, kind in (("rater_id", str), ("page_version", str), ("n_trials", int), ("complete", bool),
                      ("headphone_check", dict), ("ratings", list), ("checksum", dict)):
        if not isinstance(data.get(key), kind) or (kind is int and isinstance(data.get(key), bool)):
            raise _Reject(f"field {key!r} is missing or not a {kind.__name__}")
    if not _RATER.fullmatch(data["rater_id"]):
        raise _Reject(f"rater_id {_short(data['rater_id'])} is not 1-64 characters of [A-Za-z0-9_-]")
    if not _PAGE_VERSION.fullmatch(data["page_version"]):
        raise _Reject(f"page_version {_short(data['page_version'])} is not 16 hexadecimal digits")
    if manifest is not None:
        if not manifest.trials:
            raise _Reject("the listening-test page was built without samples: it served no stimulus, so no result "
                          "file can be checked against it")
        if data["page_version"] != manifest.page_version:
            raise _Reject(f"page_version {data['page_version']} is not the page's ({manifest.page_version}): its "
                          "trial set is unknown")
    n_trials = data["n_trials"]
    if n_trials == 0:
        raise _Reject("n_trials is 0: the file holds no trial")
    n_trials = _check_int("n_trials", n_trials, min_value=1, max_value=MAX_TRIALS)
    if manifest is not None and n_trials != len(manifest.trials):
        raise _Reject(f"n_trials {n_trials} differs from the page's {len(manifest.trials)} trials")
    if not data["ratings"]:
        raise _Reject("no ratings: the file holds no rated trial")
    if len(data["ratings"]) > n_trials:
        raise _Reject(f"{len(data['ratings'])} ratings for {n_trials} trials")
    return n_trials


def _check_headphones(headphones: dict, manifest: PageManifest | None) -> tuple[list[int], bool]:
    """The headphone answers and whether they passed (recomputed from the page's answers with a manifest)."""
    answers = headphones.get("answers")
    if not isinstance(answers, list) or len(answers) > _MAX_HEADPHONE_ANSWERS:
        raise _Reject(f"field 'headphone_check.answers' is missing or not a list of at most {_MAX_HEADPHONE_ANSWERS}")
    answers = [_check_int(f"headphone answer {k}", a, min_value=0, max_value=2) for k, a in enumerate(answers)]
    passed = headphones.get("passed", False)
    try:
        passed = check_bool("headphone_check.passed", passed)
    except ValueError:
        raise _Reject(f"headphone_check.passed must be true or false, got {_short(passed)}") from None
    if manifest is not None:
        right = list(manifest.headphone_answers)
        really = len(answers) == len(right) and answers == right
        if "passed" in headphones and passed != really:
            raise _Reject(f"headphone_check.passed is {str(passed).lower()} but {sum(map(int.__eq__, answers, right))} "
                          f"of the page's {len(right)} answers are right")
        passed = really
    return answers, passed


def _check_rating(i: int, r, manifest: PageManifest | None) -> dict:
    """Rating ``i`` of a file, checked alone (its checked fields only)."""
    if not isinstance(r, dict):
        raise _Reject(f"rating {i} is not an object")
    for key in ("stimulus", "condition", "utterance", "kind"):
        if not isinstance(r.get(key), str):
            raise _Reject(f"rating {i}: field {key!r} is missing or not a string")
    stimulus, utterance, condition = r["stimulus"], r["utterance"], r["condition"]
    if manifest is not None:
        if stimulus not in manifest.trials:
            raise _Reject(f"rating {i}: stimulus {_short(stimulus)} is not one of the "
                          f"{len(manifest.trials)} stimuli of page {manifest.page_version}")
        if (utterance, condition) != manifest.trials[stimulus]:
            raise _Reject(f"rating {i}: stimulus {stimulus} is utterance/condition "
                          f"{'/'.join(manifest.trials[stimulus])} on the page, the file says "
                          f"{_short(utterance)}/{_short(condition)}")
    if not _STIMULUS.fullmatch(stimulus):
        raise _Reject(f"rating {i}: stimulus {_short(stimulus)} is not a stimulus id ([A-Za-z0-9_.-])")
    if not _NAME.fullmatch(utterance):
        raise _Reject(f"rating {i}: utterance {_short(utterance)} is not an utterance id ([A-Za-z0-9_.])")
    if not _is_condition(condition):
        raise _Reject(f"rating {i}: condition {_short(condition)} is not a condition name (<model>-<size> of "
                      f"[A-Za-z0-9_.], {REFERENCE!r} or {ANCHOR!r})")
    described = (r.get("model"), r.get("size"), r["kind"])
    if described != _describe(condition):
        raise _Reject(f"rating {i}: model/size/kind {_short(r.get('model'))}/{_short(r.get('size'))}/"
                      f"{_short(r['kind'])} do not match condition {condition!r}")
    if not _is_int(r.get("score")) or not 1 <= r["score"] <= 5:
        raise _Reject(f"rating {i}: score {_short(r.get('score'))} is not an integer 1-5")
    if not _is_int(r.get("index")) or r["index"] != i:
        raise _Reject(f"rating {i}: index {_short(r.get('index'))} out of sequence")
    if r.get("ended_ms") is None:
        raise _Reject(f"rating {i}: rated before its audio played to the end (ended_ms missing)")
    times = {key: _check_int(f"rating {i}: field {key!r}", r.get(key), min_value=0, max_value=_MAX_MS)
             for key in _TIMES}
    plays = _check_int(f"rating {i}: field 'plays'", r.get("plays"), min_value=1, max_value=MAX_TRIALS)
    model, size, kind = _describe(condition)
    return {"index": i, "stimulus": stimulus, "utterance": utterance, "condition": condition, "model": model,
            "size": size, "kind": kind, "score": r["score"], **times, "plays": plays}


def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json"))
        elif p.exists():
            files.append(p)  # a file (anything else is rejected with its reason when read)
        else:
            raise ValueError(f"result path {p} does not exist")
    return files


def _screen(ratings: list[dict], headphones: dict, rule: ScreeningRule) -> str | None:
    ref = [r["score"] for r in ratings if r["condition"] == REFERENCE]
    if ref:
        misses = sum(s < rule.reference_below for s in ref)
        if misses / len(ref) > rule.max_fraction:
            return (f"screening: rated the hidden reference below {rule.reference_below} in {misses} of {len(ref)} "
                    f"trials (> {rule.max_fraction:.0%})")
    if rule.require_headphone_check and not headphones.get("passed", False):
        return "screening: failed the headphone check"
    return None


def load_results(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                 screening: ScreeningRule | None = None, allow_mixed_versions: bool = False,
                 expected_page_version: str | None = None,
                 manifest: "PageManifest | PageBuild | str | os.PathLike | Mapping | None" = None,
                 max_file_bytes: int = MAX_FILE_BYTES) -> ListeningResults:
    """Read, validate and screen result files (see the module docstring for the rules).

    A file that cannot be trusted is rejected with its reason and the others are read as usual: no content of a
    file raises here.

    Args:
        paths: result files and/or folders (every ``*.json`` in a folder is read).
        screening: rater screening (default :class:`ScreeningRule()`).
        allow_mixed_versions: accept files from different page versions (their MOS are then pooled per condition).
        expected_page_version: reject files of any other page version (e.g. the one of the page built now).
        manifest: the page the raters used (:func:`load_manifest`'s sources): files of another page version, with
            another number of trials, or naming a stimulus the page did not serve (or with another utterance or
            condition than the page's) are rejected, and the headphone result is recomputed from the page's answers.
            None checks names against the page's patterns only (conditions ``<model>-<size>``, ids).
        max_file_bytes: larger files are rejected unread (bytes, >= 1).

    Returns:
        :class:`ListeningResults` (possibly with no accepted rating).

    Raises:
        ValueError: a path that does not exist, a bad argument (an unreadable manifest, a manifest of another version
            than ``expected_page_version``), or accepted-format files of several page versions without
            ``allow_mixed_versions``.
    """
    rule = screening or ScreeningRule()
    max_file_bytes = check_positive_int("max_file_bytes", max_file_bytes)
    if manifest is not None and not isinstance(manifest, PageManifest):
        manifest = load_manifest(manifest)
    if (manifest is not None and manifest.trials and expected_page_version is not None
            and expected_page_version != manifest.page_version):
        raise ValueError(f"expected_page_version {expected_page_version!r} is not the manifest's page version "
                         f"{manifest.page_version!r}")
    rows, valid = _check_files(_expand(paths), manifest, expected_page_version, max_file_bytes)
    versions = sorted({d["page_version"] for _, d in valid})
    if len(versions) > 1 and not allow_mixed_versions:
        raise ValueError(f"result files come from {len(versions)} page versions {versions}: different trial sets. "
                         "Analyse one version at a time (expected_page_version=...) or pass allow_mixed_versions=True")
    ratings = _sort_sessions(rows, valid, rule)
    sessions = pd.DataFrame(rows, columns=["file", "rater_id", "page_version", "status", "reason", "n_ratings",
                                           "headphones_passed"])
    table = pd.DataFrame(ratings, columns=RATING_COLUMNS)
    if len(table):
        table["score"] = table["score"].astype(int)
    return ListeningResults(ratings=table, sessions=sessions, screening=rule)


def _check_files(files: list[Path], manifest: PageManifest | None, expected_page_version: str | None,
                 max_file_bytes: int) -> tuple[list[dict], list[tuple[Path, dict]]]:
    """Read and check each file: the session rows of the rejected ones, and ``(file, checked content)`` of the
    others."""
    rows, valid = [], []
    for f in files:
        try:
            data = _check_file(_parse(_read(f, max_file_bytes)), manifest)
            if expected_page_version is not None and data["page_version"] != expected_page_version:
                raise _Reject(f"page_version {data['page_version']} differs from the expected {expected_page_version}")
        except _Reject as why:
            reason = str(why)
        except Exception as err:  # noqa: BLE001 - one file's surprise must not abort the ingest of the others
            reason = f"unexpected error while checking the file ({err.__class__.__name__}: {str(err)[:120]})"
        else:
            valid.append((f, data))
            continue
        rows.append({"file": str(f), "rater_id": None, "page_version": None, "status": "rejected",
                     "reason": reason[:_REASON_CHARS] or "rejected", "n_ratings": 0, "headphones_passed": None})
    return rows, valid


def _sort_sessions(rows: list[dict], valid: list[tuple[Path, dict]], rule: ScreeningRule) -> list[dict]:
    """Append a session row per checked file to ``rows`` (duplicate, excluded or accepted, with the reason) and
    return the ratings of the accepted ones."""
    seen_checksums: set[str] = set()
    by_rater: dict[tuple[str, str], list] = {}
    data = {}
    for f, d in valid:
        row = {"file": str(f), "rater_id": d["rater_id"], "page_version": d["page_version"], "status": None,
               "reason": "", "n_ratings": len(d["ratings"]), "headphones_passed": d["headphone_check"]["passed"]}
        if d["checksum"] in seen_checksums:
            row.update(status="duplicate", reason="identical copy of a file already read")
        else:
            seen_checksums.add(d["checksum"])
            by_rater.setdefault((d["page_version"], d["rater_id"]), []).append(len(rows))
        data[len(rows)] = d
        rows.append(row)
    ratings = []
    for (version, rater), indices in by_rater.items():
        for i in indices:
            row, d = rows[i], data[i]
            if len(indices) > 1:
                row.update(status="excluded", reason=f"rater id {rater} appears in {len(indices)} different files")
            elif not d["complete"] or len(d["ratings"]) < d["n_trials"]:
                row.update(status="excluded", reason=f"incomplete: {len(d['ratings'])} of {d['n_trials']} trials rated")
            else:
                why = _screen(d["ratings"], d["headphone_check"], rule)
                if why:
                    row.update(status="excluded", reason=why)
                else:
                    row.update(status="accepted", reason="")
                    for r in d["ratings"]:  # checked fields only (see _check_file)
                        ratings.append({**r, "rater_id": rater, "page_version": version, "file": row["file"]})
    return ratings
