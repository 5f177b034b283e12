"""Ingests and validates the result files that raters download from the listening-test page.

Every file goes through the same checks, in this order, and ends in exactly one status:

1. **rejected** (the file cannot be trusted): not JSON, another ``schema``, a ``schema_version`` other than
   :data:`~greenaudio.listening.page.SCHEMA_VERSION`, missing or mistyped fields, a score outside 1-5, a stimulus
   rated twice, model/size/kind that do not match the condition, or a checksum that does not match the ratings
   (the file was edited after download: "tampered");
2. files with different ``page_version`` (different trial sets) are refused with a ValueError unless
   ``allow_mixed_versions=True``;
3. **duplicate**: a byte-for-byte copy of a file already read (same checksum) is ignored; **excluded**: a rater id that
   appears in two different files (all its files are excluded: no way to know which is genuine);
4. **excluded**: incomplete session (fewer ratings than trials);
5. **excluded** by the screening rule (:class:`ScreeningRule`): by default a rater who rates the hidden reference
   below 3 in more than 25 % of its trials (cf. the post-screening of ITU-R BS.1534 / P.808, adapted to ACR);
6. otherwise **accepted**.

The counts of each status are kept (:meth:`ListeningResults.counts`) so a chapter can state them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from .page import ANCHOR, REFERENCE, SCHEMA, SCHEMA_VERSION

__all__ = ["ScreeningRule", "ListeningResults", "load_results", "canonical_text", "compute_checksum",
           "default_results_dir", "RATING_COLUMNS"]

RATING_COLUMNS = ["rater_id", "page_version", "index", "stimulus", "utterance", "condition", "model", "size", "kind",
                  "score", "presented_ms", "first_play_ms", "ended_ms", "rated_ms", "plays", "file"]
_TIMES = ("presented_ms", "first_play_ms", "ended_ms", "rated_ms")


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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _describe(condition: str) -> tuple[str, str, str]:
    """(model, size, kind) of a condition name, as the page builder writes them."""
    if condition in (REFERENCE, ANCHOR):
        return condition, "", "reference" if condition == REFERENCE else "anchor"
    model, _, size = condition.rpartition("-")
    return model, size, "system"


def _check_file(data) -> None:
    """Raise _Reject with the reason when a parsed result file is malformed or tampered."""
    if not isinstance(data, dict):
        raise _Reject("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise _Reject(f"schema is {data.get('schema')!r}, expected {SCHEMA!r}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise _Reject(f"schema_version {data.get('schema_version')!r} is not supported (valid: {SCHEMA_VERSION})")
    for key, kind in (("rater_id", str), ("page_version", str), ("n_trials", int), ("complete", bool),
                      ("headphone_check", dict), ("ratings", list), ("checksum", dict)):
        if not isinstance(data.get(key), kind) or (kind is int and isinstance(data.get(key), bool)):
            raise _Reject(f"field {key!r} is missing or not a {kind.__name__}")
    if not isinstance(data["headphone_check"].get("answers"), list):
        raise _Reject("field 'headphone_check.answers' is missing or not a list")
    seen = set()
    for i, r in enumerate(data["ratings"]):
        if not isinstance(r, dict):
            raise _Reject(f"rating {i} is not an object")
        for key in ("stimulus", "condition", "utterance", "kind"):
            if not isinstance(r.get(key), str):
                raise _Reject(f"rating {i}: field {key!r} is missing or not a string")
        if (r.get("model", ""), r.get("size", ""), r["kind"]) != _describe(r["condition"]):
            raise _Reject(f"rating {i}: model/size/kind {r.get('model')!r}/{r.get('size')!r}/{r['kind']!r} do not "
                          f"match condition {r['condition']!r}")
        if not _is_int(r.get("score")) or not 1 <= r["score"] <= 5:
            raise _Reject(f"rating {i}: score {r.get('score')!r} is not an integer 1-5")
        if r.get("index") != i:
            raise _Reject(f"rating {i}: index {r.get('index')!r} out of sequence")
        if r.get("ended_ms") is None:
            raise _Reject(f"rating {i}: rated before its audio played to the end (ended_ms missing)")
        for key in (*_TIMES, "plays"):
            if not _is_int(r.get(key)):
                raise _Reject(f"rating {i}: field {key!r} is missing or not an integer")
        if r["stimulus"] in seen:
            raise _Reject(f"stimulus {r['stimulus']} is rated twice")
        seen.add(r["stimulus"])
    if len(data["ratings"]) > data["n_trials"]:
        raise _Reject(f"{len(data['ratings'])} ratings for {data['n_trials']} trials")
    checksum = data["checksum"]
    if checksum.get("algorithm") != "sha256":
        raise _Reject(f"checksum algorithm {checksum.get('algorithm')!r} is not supported (valid: 'sha256')")
    if checksum.get("value") != compute_checksum(data):
        raise _Reject("checksum does not match the ratings (the file was edited after download)")


def _expand(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json"))
        elif p.is_file():
            files.append(p)
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
                 expected_page_version: str | None = None) -> ListeningResults:
    """Read, validate and screen result files (see the module docstring for the rules).

    Args:
        paths: result files and/or folders (every ``*.json`` in a folder is read).
        screening: rater screening (default :class:`ScreeningRule()`).
        allow_mixed_versions: accept files from different page versions (their MOS are then pooled per condition).
        expected_page_version: reject files of any other page version (e.g. the one of the page built now).

    Returns:
        :class:`ListeningResults` (possibly with no accepted rating).

    Raises:
        ValueError: a path that does not exist, or accepted-format files of several page versions without
            ``allow_mixed_versions``.
    """
    rule = screening or ScreeningRule()
    rows, valid = [], []
    for f in _expand(paths):
        try:
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise _Reject(f"not valid JSON ({err.__class__.__name__}: {err})") from None
            _check_file(data)
            if expected_page_version is not None and data["page_version"] != expected_page_version:
                raise _Reject(f"page_version {data['page_version']} differs from the expected {expected_page_version}")
        except _Reject as why:
            rows.append({"file": str(f), "rater_id": None, "page_version": None, "status": "rejected",
                         "reason": str(why), "n_ratings": 0, "headphones_passed": None})
            continue
        valid.append((f, data))
    versions = sorted({d["page_version"] for _, d in valid})
    if len(versions) > 1 and not allow_mixed_versions:
        raise ValueError(f"result files come from {len(versions)} page versions {versions}: different trial sets. "
                         "Analyse one version at a time (expected_page_version=...) or pass allow_mixed_versions=True")
    seen_checksums: set[str] = set()
    by_rater: dict[str, list] = {}
    for f, d in valid:
        row = {"file": str(f), "rater_id": d["rater_id"], "page_version": d["page_version"], "status": None,
               "reason": "", "n_ratings": len(d["ratings"]),
               "headphones_passed": bool(d["headphone_check"].get("passed", False))}
        if d["checksum"]["value"] in seen_checksums:
            row.update(status="duplicate", reason="identical copy of a file already read")
        else:
            seen_checksums.add(d["checksum"]["value"])
            by_rater.setdefault((d["page_version"], d["rater_id"]), []).append(len(rows))
        rows.append(row)
        row["_data"] = d
    ratings = []
    for (version, rater), indices in by_rater.items():
        for i in indices:
            row, d = rows[i], rows[i]["_data"]
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
                    for r in d["ratings"]:
                        ratings.append({"rater_id": rater, "page_version": version, "file": row["file"],
                                        **{k: r[k] for k in RATING_COLUMNS if k in r}})
    for row in rows:
        row.pop("_data", None)
    sessions = pd.DataFrame(rows, columns=["file", "rater_id", "page_version", "status", "reason", "n_ratings",
                                           "headphones_passed"])
    table = pd.DataFrame(ratings, columns=RATING_COLUMNS)
    if len(table):
        table["score"] = table["score"].astype(int)
    return ListeningResults(ratings=table, sessions=sessions, screening=rule)
