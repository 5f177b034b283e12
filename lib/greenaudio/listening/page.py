"""Builds the static listening-test page: HTML, JavaScript, the trial set and its audio files.

The trial set is every (utterance, condition) pair of a samples tree::

    <samples_dir>/<utterance_id>/ground_truth.flac        the hidden reference
    <samples_dir>/<utterance_id>/<model>-<size>.flac       one file per trained configuration

plus, per utterance, a low anchor that the builder makes from the ground truth (:func:`make_low_anchor`). Every rater
rates every stimulus once (a complete design); the order is a permutation seeded by the rater's anonymous id
(:func:`trial_order`, mirrored in the page's JavaScript). Audio is re-written as 16-bit WAV (every browser plays it)
under anonymous names, each stimulus normalised to the same RMS level.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _app

__all__ = ["SCHEMA", "SCHEMA_VERSION", "PageBuild", "build_test_page", "discover_samples", "trial_order",
           "default_samples_dir"]

#: Identifies a result file of this page (the ``schema`` field).
SCHEMA = "greenaudio-listening-result"
#: Version of the result-file format; :mod:`greenaudio.listening.results` refuses any other.
SCHEMA_VERSION = 1
#: Condition names of the two non-system conditions.
REFERENCE = "ground_truth"
ANCHOR = "anchor"
_ID = re.compile(r"[A-Za-z0-9_.]+")  # used with fullmatch (``$`` would let a trailing newline through)


@dataclass(frozen=True)
class PageBuild:
    """What :func:`build_test_page` wrote.

    Attributes:
        out_dir: folder holding ``index.html``.
        built: False when the samples folder does not exist (the page then says the samples are not built yet).
        page_version: 16 hex digits of SHA-256 over the trial set (ids, conditions, audio bytes); "" if not built.
        n_trials: number of rated trials per rater.
        n_utterances: number of utterances.
        conditions: condition names (configurations, then ``ground_truth`` and ``anchor``).
    """

    out_dir: Path
    built: bool
    page_version: str = ""
    n_trials: int = 0
    n_utterances: int = 0
    conditions: tuple[str, ...] = ()


def default_samples_dir() -> Path:
    """The trained zoo's samples shipped with the package (``resources/zoo/mini/samples``); may not exist yet."""
    return Path(__file__).resolve().parents[1] / "resources" / "zoo" / "mini" / "samples"


def discover_samples(samples_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Maps utterance id -> {condition: FLAC path} for a samples tree.

    Args:
        samples_dir: folder with one sub-folder per utterance (layout in the module docstring).

    Returns:
        utterances in sorted order; conditions ``<model>-<size>`` and ``ground_truth``.

    Raises:
        ValueError: an utterance without ``ground_truth.flac``, a file name that is not ``<model>-<size>.flac``, an
            utterance whose conditions differ from the first utterance's, or no utterance at all.
    """
    root = Path(samples_dir)
    found: dict[str, dict[str, Path]] = {}
    for utt in sorted(p for p in root.iterdir() if p.is_dir()):
        if not _ID.fullmatch(utt.name):
            raise ValueError(f"utterance folder {utt.name!r} has characters outside [A-Za-z0-9_.]")
        conditions = {}
        for f in sorted(utt.glob("*.flac")):
            if f.stem != REFERENCE and (f.stem.count("-") < 1
                                        or not all(_ID.fullmatch(p) for p in f.stem.rsplit("-", 1))):
                raise ValueError(f"sample {f} is not named <model>-<size>.flac or ground_truth.flac")
            if f.stem == ANCHOR:
                raise ValueError(f"sample {f}: the name 'anchor' is reserved for the generated low anchor")
            conditions[f.stem] = f
        if not conditions:
            continue
        if REFERENCE not in conditions:
            raise ValueError(f"utterance {utt.name!r} has no ground_truth.flac (found {sorted(conditions)})")
        found[utt.name] = conditions
    if not found:
        raise ValueError(f"no utterance folder with FLAC files in {root}")
    first = next(iter(found.values())).keys()
    for utt, conditions in found.items():
        if conditions.keys() != first:
            raise ValueError(f"utterance {utt!r} has conditions {sorted(conditions)}, the first has {sorted(first)}; "
                             "every utterance needs the same configurations")
    return found


def make_low_anchor(reference: np.ndarray, sample_rate: int, *, cutoff_hz: float = 3500.0, q_db: float = 10.0,
                    seed: int = 0) -> np.ndarray:
    """The low anchor: the reference low-passed at ``cutoff_hz`` then degraded by modulated noise.

    The low-pass is the low anchor of ITU-R BS.1534 (3.5 kHz); the noise is the Modulated Noise Reference Unit of
    ITU-T P.810, a reference condition of P.800 tests: ``y = x (1 + 10**(-Q/20) n)`` with white Gaussian ``n``.

    Args:
        reference: mono waveform (floats in [-1, 1]).
        sample_rate: Hz; must exceed ``2 * cutoff_hz``.
        cutoff_hz: low-pass cut-off (Hz), 8th-order Butterworth, zero phase.
        q_db: MNRU signal-to-modulated-noise ratio Q (dB); lower is noisier.
        seed: seed of the noise.

    Returns:
        the anchor, same length as ``reference``.
    """
    from scipy import signal

    if sample_rate <= 2 * cutoff_hz:
        raise ValueError(f"sample_rate {sample_rate} Hz is too low for a {cutoff_hz} Hz low-pass "
                         f"(needs > {2 * cutoff_hz})")
    sos = signal.butter(8, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    low = signal.sosfiltfilt(sos, np.asarray(reference, dtype=np.float64))
    noise = np.random.default_rng(seed).standard_normal(low.shape[0])
    return low * (1.0 + 10.0 ** (-q_db / 20.0) * noise)


def make_headphone_check(sample_rate: int = 16000, *, quiet_position: int = 0, antiphase_position: int = 1,
                         freq_hz: float = 200.0, tone_s: float = 1.0, gap_s: float = 0.5,
                         level_dbfs: float = -20.0) -> np.ndarray:
    """One stereo headphone-check clip after Woods et al. (2017): three 200 Hz tones, which one is quietest?

    One tone is 6 dB quieter (the answer); one is in antiphase between left and right. Over loudspeakers the
    antiphase tone partly cancels and sounds quietest, so listeners without headphones tend to pick it.

    Args:
        sample_rate: Hz.
        quiet_position: 0, 1 or 2, the position of the 6 dB quieter tone.
        antiphase_position: 0, 1 or 2, different from ``quiet_position``.
        freq_hz, tone_s, gap_s: tone frequency (Hz), tone and gap durations (s).
        level_dbfs: level of the loud tones (dB re full-scale sine amplitude).

    Returns:
        array of shape (samples, 2).
    """
    if {quiet_position, antiphase_position} - {0, 1, 2} or quiet_position == antiphase_position:
        raise ValueError(f"positions must be two different values of 0, 1, 2; got quiet={quiet_position}, "
                         f"antiphase={antiphase_position}")
    n = int(round(tone_s * sample_rate))
    t = np.arange(n) / sample_rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms raised edges
    tone = np.sin(2 * np.pi * freq_hz * t) * ramp * 10 ** (level_dbfs / 20)
    gap = np.zeros((int(round(gap_s * sample_rate)), 2))
    parts = []
    for pos in range(3):
        left = tone * (10 ** (-6 / 20) if pos == quiet_position else 1.0)
        right = -left if pos == antiphase_position else left
        parts += [np.column_stack([left, right]), gap]
    return np.concatenate(parts[:-1])


def _fnv1a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def trial_order(rater_id: str, utterances: list[str]) -> list[int]:
    """The presentation order the page uses for a rater (Python mirror of the page's JavaScript).

    Seeded Fisher-Yates shuffle (FNV-1a hash of ``rater_id`` -> xorshift32), then the sequence is drawn greedily from
    the shuffle so that no two trials of the same utterance follow each other (always possible when no utterance
    has more than half the trials, rounded up; otherwise the constraint is dropped where it cannot hold).

    Args:
        rater_id: the anonymous rater id.
        utterances: the utterance of each trial, in the manifest's order.

    Returns:
        indices into ``utterances`` in presentation order.
    """
    x = _fnv1a(rater_id) or 0x9E3779B9
    order = list(range(len(utterances)))

    def rand() -> float:
        nonlocal x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        return x / 4294967296

    for i in range(len(order) - 1, 0, -1):
        j = int(rand() * (i + 1))
        order[i], order[j] = order[j], order[i]
    counts: dict[str, int] = {}
    for u in utterances:
        counts[u] = counts.get(u, 0) + 1
    out, prev = [], None
    while order:
        rest, pick = len(order) - 1, 0
        for pos, i in enumerate(order):
            u = utterances[i]
            if u == prev:
                continue
            counts[u] -= 1
            ok = all(c <= (rest // 2 if v == u else (rest + 1) // 2) for v, c in counts.items())
            counts[u] += 1
            if ok:
                pick = pos
                break
        chosen = order.pop(pick)
        counts[utterances[chosen]] -= 1
        prev = utterances[chosen]
        out.append(chosen)
    order = out
    return order


def _normalise(x: np.ndarray, target_dbfs: float | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if target_dbfs is not None:
        rms = float(np.sqrt(np.mean(x ** 2)))
        if rms > 0:
            x = x * (10 ** (target_dbfs / 20) / rms)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (0.99 / peak) if peak > 0.99 else x


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> str:
    import soundfile as sf

    sf.write(str(path), audio, sample_rate, subtype="PCM_16", format="WAV")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_not_built(out: Path, samples_dir: Path) -> None:
    page = (_app.INDEX_HTML.replace("__TITLE__", "Listening test")
            .replace("__NOT_BUILT__", f"No samples were found in <code>{html.escape(samples_dir.name)}</code> when "
                     "this page was built. The listening test appears here once the trained zoo's samples exist and "
                     "the book is rebuilt.")
            .replace("__SCRIPTS__", '<script src="app.js"></script>'))
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "style.css").write_text(_app.STYLE_CSS, encoding="utf-8")
    (out / "app.js").write_text(_app.APP_JS, encoding="utf-8")


def build_test_page(samples_dir: str | os.PathLike | None, out_dir: str | os.PathLike, *,
                    title: str = "Listening test: how natural do the vocoders sound?",
                    normalise_dbfs: float | None = -26.0, anchor_cutoff_hz: float = 3500.0, anchor_q_db: float = 10.0,
                    training_utterance: str | None = None, seed: int = 0) -> PageBuild:
    """Write the static listening-test app (``index.html``, ``app.js``, ``trials.js``, ``style.css``, ``audio/``).

    The folder is replaced atomically (written next to ``out_dir`` then renamed). Opening ``index.html`` from disk or
    from any static web host runs the test; nothing is sent anywhere.

    Args:
        samples_dir: samples tree (see the module docstring); None means :func:`default_samples_dir`. If the folder
            does not exist the page says that the samples are not built yet.
        out_dir: folder to (re)create.
        title: page title (plain text: it is HTML-escaped where it lands in ``<title>`` and ``<h1>``).
        normalise_dbfs: RMS level (dBFS) every stimulus is scaled to (peaks kept below 0.99); None keeps levels.
        anchor_cutoff_hz, anchor_q_db: low anchor settings (:func:`make_low_anchor`).
        training_utterance: utterance whose reference and anchor are the training examples (default: the first).
        seed: seed of the anchor noise and of the headphone-check positions.

    Returns:
        a :class:`PageBuild` describing the trial set.

    Raises:
        ValueError: a malformed samples tree (:func:`discover_samples`), mixed sample rates, stereo files, an
            unknown ``training_utterance``, or a ``title`` that is not a string.
    """
    import soundfile as sf

    if not isinstance(title, str):
        raise ValueError(f"title must be a string, got {title!r} of type {type(title).__name__}")
    samples = Path(samples_dir) if samples_dir is not None else default_samples_dir()
    out = Path(out_dir)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if not samples.is_dir():
            _write_not_built(tmp, samples)
            result = PageBuild(out_dir=out, built=False)
        else:
            result = _build(samples, tmp, out, title=title, normalise_dbfs=normalise_dbfs, cutoff=anchor_cutoff_hz,
                            q_db=anchor_q_db, training_utterance=training_utterance, seed=seed, sf=sf)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return result


#: What a built page folder holds: a folder holding anything else is not replaced (it may be the caller's).
PAGE_ENTRIES = frozenset({"index.html", "style.css", "app.js", "trials.js", "manifest.json", "audio"})


def _check_replaceable(out: Path) -> None:
    """Refuse to replace ``out`` unless it is absent, empty, or a page this function built (only its own entries)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a folder; give a new or empty folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in PAGE_ENTRIES)
    if foreign:
        raise ValueError(f"out_dir {str(out)!r} holds files a listening page does not (e.g. {foreign[:3]}); nothing "
                         f"was replaced: give a new or empty folder, or the folder of an earlier page build")


def _write_stimuli(tree: dict, conditions: list[str], tmp: Path, *, normalise_dbfs, cutoff, q_db, seed, sf):
    """Every (utterance, condition) stimulus written as a WAV under ``tmp/audio``; returns its trials, the durations
    (in s) and the sample rate (Hz) they all share."""
    trials, durations, rate = [], [], None
    for u_index, (utt, files) in enumerate(tree.items()):
        for condition in conditions:
            source = files[REFERENCE if condition == ANCHOR else condition]
            audio, sr = sf.read(str(source), dtype="float64", always_2d=True)
            if audio.shape[1] != 1:
                raise ValueError(f"{source} has {audio.shape[1]} channels; the listening test needs mono")
            if rate is None:
                rate = sr
            elif sr != rate:
                raise ValueError(f"{source} is sampled at {sr} Hz, other samples at {rate} Hz")
            audio = audio[:, 0]
            if condition == ANCHOR:
                audio = make_low_anchor(audio, sr, cutoff_hz=cutoff, q_db=q_db, seed=seed + u_index)
            audio = _normalise(audio, normalise_dbfs)
            stimulus = "s" + hashlib.sha256(f"{utt}/{condition}".encode()).hexdigest()[:10]
            digest = _write_wav(tmp / "audio" / f"{stimulus}.wav", audio, sr)
            kind = {REFERENCE: "reference", ANCHOR: "anchor"}.get(condition, "system")
            model, size = (condition.rsplit("-", 1) if kind == "system" else (condition, ""))
            trials.append({"stimulus": stimulus, "audio": f"audio/{stimulus}.wav", "utterance": utt,
                           "condition": condition, "model": model, "size": size, "kind": kind, "sha256": digest})
            durations.append(len(audio) / sr)
    return trials, durations, rate


def _build(samples: Path, tmp: Path, out: Path, *, title, normalise_dbfs, cutoff, q_db, training_utterance, seed, sf):
    tree = discover_samples(samples)
    if training_utterance is not None and training_utterance not in tree:
        raise ValueError(f"training_utterance {training_utterance!r} is not in the samples; valid: {sorted(tree)}")
    (tmp / "audio").mkdir()
    systems = sorted(c for c in next(iter(tree.values())) if c != REFERENCE)
    conditions = systems + [REFERENCE, ANCHOR]
    trials, durations, rate = _write_stimuli(tree, conditions, tmp, normalise_dbfs=normalise_dbfs, cutoff=cutoff,
                                             q_db=q_db, seed=seed, sf=sf)
    train_utt = training_utterance or next(iter(tree))
    training = []
    for condition, label in ((REFERENCE, "Example of the best quality in this test (an original recording)"),
                             (ANCHOR, "Example of a strongly degraded recording (band-limited, noisy)")):
        src = next(t for t in trials if t["utterance"] == train_utt and t["condition"] == condition)
        name = f"train-{condition}.wav"
        shutil.copy2(tmp / src["audio"], tmp / "audio" / name)
        training.append({"audio": f"audio/{name}", "label": label})
    rng = np.random.default_rng(seed)
    checks = []
    for k in range(3):
        quiet, anti = (int(v) for v in rng.permutation(3)[:2])
        digest = _write_wav(tmp / "audio" / f"headphones-{k + 1}.wav",
                            make_headphone_check(rate, quiet_position=quiet, antiphase_position=anti), rate)
        checks.append({"audio": f"audio/headphones-{k + 1}.wav", "answer": quiet, "antiphase": anti})
    version_basis = json.dumps({"schema_version": SCHEMA_VERSION, "trials": trials,
                                "training": [t["label"] for t in training],
                                "headphones": [[c["answer"], c["antiphase"]] for c in checks]}, sort_keys=True)
    page_version = hashlib.sha256(version_basis.encode()).hexdigest()[:16]
    manifest = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "page_version": page_version, "title": title,
                "sample_rate": rate, "mean_duration_s": float(np.mean(durations)), "conditions": conditions,
                "utterances": list(tree), "normalise_dbfs": normalise_dbfs,
                "anchor": {"lowpass_hz": cutoff, "mnru_q_db": q_db},
                "trials": trials,
                "training": training, "headphone_check": checks}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    public = dict(manifest)
    public["trials"] = [{k: v for k, v in t.items() if k != "sha256"} for t in trials]
    (tmp / "trials.js").write_text("window.GREENAUDIO_LISTENING = " + json.dumps(public) + ";\n", encoding="utf-8")
    (tmp / "index.html").write_text(
        _app.INDEX_HTML.replace("__TITLE__", html.escape(title, quote=True)).replace("__NOT_BUILT__", "")
        .replace("__SCRIPTS__", '<script src="trials.js"></script>\n<script src="app.js"></script>'), encoding="utf-8")
    (tmp / "style.css").write_text(_app.STYLE_CSS, encoding="utf-8")
    (tmp / "app.js").write_text(_app.APP_JS, encoding="utf-8")
    return PageBuild(out_dir=out, built=True, page_version=page_version, n_trials=len(trials),
                     n_utterances=len(tree), conditions=tuple(conditions))
