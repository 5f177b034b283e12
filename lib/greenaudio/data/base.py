"""Thesis preprocessing, the on-disk cache and the common speech dataset (thesis §5.1.2).

Used by: :mod:`greenaudio.data.ljspeech`, :mod:`greenaudio.data.espeak`, training and measurement code.

Preprocessing of one clip (thesis §5.1.2 and its code), in this order:

1. read the file (mono only; multi-channel files are skipped, not mixed down);
2. resample the whole clip to ``sample_rate`` (16 kHz) with soxr (``librosa.resample(res_type="soxr_hq")``);
3. keep the first ``n_samples`` (2**14 = 16,384) samples. **Decision on shorter clips:** clips with at least
   ``min_samples`` samples are zero-padded at the end to ``n_samples`` and counted in ``report.n_padded`` (the thesis
   does not say; LJSpeech's shortest clip, 1.11 s, is longer than 1.024 s, so padding never happens on it); clips
   shorter than ``min_samples`` are skipped. Set ``pad_short=False`` to skip every short clip instead;
4. 80-band log-mel with the shared :class:`~greenaudio.vocoders.mel.MelFrontEnd` (``N // 256`` = 64 frames);
5. dataset min–max normalisation (thesis Eq. 49), statistics fitted on the *training split only* and stored as
   ``normalizer.json`` next to the cached arrays.

Split (thesis code): over the corpus's own file list order (e.g. the rows of LJSpeech's ``metadata.csv``), the last
``len // 5`` listed items form the test split, the others the training split. The split is decided on the *listed*
items before any file is read, so a bad file never moves another clip from one split to the other.

Bad input: a missing folder or malformed list raises :class:`ValueError`; a bad audio file (unreadable, empty,
silent, wrong sample rate, multi-channel, non-finite, too short) is skipped with a logged warning and counted in the
dataset's :class:`SkipReport` (``dataset.report``, ``dataset.skipped``), summarised once at the end of preprocessing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from torch.utils.data import Dataset

from greenaudio.vocoders.mel import THESIS_MEL, MelConfig, MelNormalizer

from greenaudio.validation import (
    check_bool,
    check_choice,
    check_non_negative_int,
    check_non_negative_number,
    check_positive_int,
)

__all__ = ["CorruptCacheError", "PreprocessConfig", "PreparedCorpus", "SpeechDataset", "default_cache_dir",
           "prepare_clips", "SPLITS"]

logger = logging.getLogger("greenaudio.data")

SPLITS = ("train", "test", "all")
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the thesis preprocessing (§5.1.2).

    Args:
        sample_rate: target sample rate (in Hz); must equal ``mel.sample_rate``.
        n_samples: samples kept from the start of each clip (2**14 in the thesis); a multiple of the mel hop.
        pad_short: zero-pad clips shorter than ``n_samples`` (but at least ``min_samples``) instead of skipping them.
        min_samples: clips with fewer samples (after resampling) are skipped as too short.
        silence_peak: clips whose kept segment has a peak absolute amplitude below this (linear, full scale 1.0)
            are skipped as silent.
        expected_sample_rate: sample rate (in Hz) every source file must have (22,050 for LJSpeech); files with
            another rate are skipped. ``None`` accepts any rate and resamples it.
        mel: mel analysis settings (the shared thesis front-end by default).
    """

    sample_rate: int = 16_000
    n_samples: int = 2**14
    pad_short: bool = True
    min_samples: int = 4_096
    silence_peak: float = 1e-4
    expected_sample_rate: int | None = None
    mel: MelConfig = THESIS_MEL

    def __post_init__(self) -> None:
        # Validate and store plain Python values (numpy scalars would hash differently in the cache key).
        normalised = {
            "sample_rate": check_positive_int("sample_rate", self.sample_rate),
            "n_samples": check_positive_int("n_samples", self.n_samples),
            "min_samples": check_positive_int("min_samples", self.min_samples),
            "pad_short": check_bool("pad_short", self.pad_short),
            "silence_peak": check_non_negative_number("silence_peak", self.silence_peak),
        }
        if self.expected_sample_rate is not None:
            normalised["expected_sample_rate"] = check_positive_int("expected_sample_rate", self.expected_sample_rate)
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        if self.mel.sample_rate != self.sample_rate:
            raise ValueError(
                f"sample_rate ({self.sample_rate} Hz) must equal mel.sample_rate ({self.mel.sample_rate} Hz)"
            )
        if self.n_samples < self.mel.hop_length or self.n_samples % self.mel.hop_length:
            raise ValueError(
                f"n_samples must be a positive multiple of the mel hop ({self.mel.hop_length}), got {self.n_samples}"
            )
        if not 0 < self.min_samples <= self.n_samples:
            raise ValueError(f"need 0 < min_samples <= n_samples ({self.n_samples}), got {self.min_samples}")
        if not self.silence_peak >= 0:
            raise ValueError(f"silence_peak must be >= 0, got {self.silence_peak}")
        if self.expected_sample_rate is not None and self.expected_sample_rate < 1:
            raise ValueError(f"expected_sample_rate must be positive or None, got {self.expected_sample_rate}")

    @property
    def n_frames(self) -> int:
        """Mel frames per clip (``n_samples // hop``)."""
        return self.n_samples // self.mel.hop_length

    def to_dict(self) -> dict:
        return asdict(self)


THESIS_PREPROCESS = PreprocessConfig()


@dataclass(frozen=True)
class SkipReport:
    """What preprocessing kept and skipped, and why.

    Attributes:
        corpus: corpus name.
        n_listed: items in the corpus's file list.
        n_kept: items kept (train + test).
        n_train: kept training items.
        n_test: kept test items.
        skipped: ``(item id, reason)`` for every skipped item, in list order.
        n_padded: kept items that were shorter than ``n_samples`` and zero-padded.
        unlisted: audio files present in the folder but absent from the file list (ignored, not skipped).
    """

    corpus: str
    n_listed: int
    n_kept: int
    n_train: int
    n_test: int
    skipped: tuple[tuple[str, str], ...] = ()
    n_padded: int = 0
    unlisted: tuple[str, ...] = ()

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def reasons(self) -> dict[str, int]:
        """Count of skipped items per reason category (the text before the first colon)."""
        out: dict[str, int] = {}
        for _, reason in self.skipped:
            key = reason.split(":")[0]
            out[key] = out.get(key, 0) + 1
        return out

    def __str__(self) -> str:
        text = (
            f"{self.corpus}: {self.n_listed} listed, {self.n_kept} kept ({self.n_train} train / {self.n_test} test), "
            f"{self.n_skipped} skipped, {self.n_padded} zero-padded"
        )
        if self.skipped:
            text += " — skipped: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.reasons().items()))
        if self.unlisted:
            text += f"; {len(self.unlisted)} unlisted audio files ignored"
        return text


def default_cache_dir() -> Path:
    """``$GREENAUDIO_CACHE`` if set, else ``~/.cache/greenaudio``."""
    env = os.environ.get("GREENAUDIO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "greenaudio"


def compute_test_mask(n_items: int) -> np.ndarray:
    """Boolean mask of the test items for a list of ``n_items`` (thesis code: the last ``n_items // 5`` items).

    Args:
        n_items: length of the corpus's file list (in its own order).

    Returns:
        ``(n_items,)`` bool array, True for test items.
    """
    n_items = check_non_negative_int("n_items", n_items)
    mask = np.zeros(n_items, dtype=bool)
    n_test = n_items // 5
    if n_test:
        mask[n_items - n_test :] = True
    return mask


def load_clip(path: str | Path, config: PreprocessConfig = THESIS_PREPROCESS) -> tuple[np.ndarray | None, str, bool]:
    """Read, check, resample and crop one clip (steps 1–3 of the module docstring).

    Args:
        path: audio file readable by soundfile (WAV, FLAC, ...).
        config: preprocessing settings.

    Returns:
        ``(audio, reason, padded)``: ``audio`` is a float32 ``(n_samples,)`` array at ``config.sample_rate``, or
        ``None`` when the clip must be skipped, in which case ``reason`` says why (``"category: detail"``).
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        return None, f"missing: {path.name} not found", False
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError/TypeError for corrupt headers
        return None, f"unreadable: {type(exc).__name__}: {str(exc).strip()[:120]}", False
    if info.frames <= 0:
        return None, "empty: 0 samples", False
    if config.expected_sample_rate is not None and info.samplerate != config.expected_sample_rate:
        return None, f"sample rate: {info.samplerate} Hz, expected {config.expected_sample_rate} Hz", False
    if info.channels != 1:
        return None, f"channels: {info.channels} channels, expected mono", False
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as exc:
        return None, f"unreadable: {type(exc).__name__}: {str(exc).strip()[:120]}", False
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        return None, "empty: 0 samples", False
    if not np.isfinite(audio).all():
        return None, "non-finite: NaN or inf samples", False
    if sr != config.sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=config.sample_rate, res_type="soxr_hq")
        audio = np.asarray(audio, dtype=np.float32)
    padded = False
    if audio.size < config.n_samples:
        if audio.size < config.min_samples or not config.pad_short:
            limit = config.min_samples if config.pad_short else config.n_samples
            return None, f"too short: {audio.size} samples at {config.sample_rate} Hz, need {limit}", False
        audio = np.pad(audio, (0, config.n_samples - audio.size))
        padded = True
    audio = np.ascontiguousarray(audio[: config.n_samples], dtype=np.float32)
    peak = float(np.abs(audio).max())
    if peak < config.silence_peak or peak == 0.0:
        return None, f"silent: peak {peak:.2e} < {config.silence_peak:.0e}", False
    return audio, "", padded


class CorruptCacheError(ValueError):
    """A cache file exists but cannot be read (truncated, overwritten, edited by hand); the message names the file
    and the folder to delete so that the next call rebuilds it."""


def _corrupt(file: Path, folder: Path, exc: BaseException | str) -> CorruptCacheError:
    detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return CorruptCacheError(
        f"corrupt cache file {file} ({detail}); delete the cache folder {folder} and run again to rebuild it"
    )


def read_cache_json(file: str | Path, folder: str | Path | None = None) -> dict:
    """Read a JSON object from a cache folder.

    Raises:
        CorruptCacheError: the file is not valid UTF-8 JSON or not an object; names the file and ``folder`` (its
            parent by default) to delete.
    """
    file = Path(file)
    folder = Path(folder) if folder is not None else file.parent
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _corrupt(file, folder, exc) from exc
    if not isinstance(value, dict):
        raise _corrupt(file, folder, f"expected a JSON object, found {type(value).__name__}")
    return value


def load_cache_array(file: str | Path, folder: str | Path | None = None, mmap_mode: str | None = "r") -> np.ndarray:
    """``np.load`` of a cached ``.npy`` array (no pickles), memory-mapped by default.

    Raises:
        CorruptCacheError: the file is missing, truncated or not a plain ``.npy`` array; names the file and
            ``folder`` (its parent by default) to delete.
    """
    file = Path(file)
    folder = Path(folder) if folder is not None else file.parent
    try:
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _corrupt(file, folder, exc) from exc


def _check_cached_floats(array: np.ndarray, file: Path, folder: Path, layout: str, *, scan: bool = True,
                         chunk_bytes: int = 1 << 26) -> np.ndarray:
    """A cached array of :class:`PreparedCorpus`, checked: floating dtype, ``layout``'s number of dimensions and,
    with ``scan``, only finite values (read in chunks of about ``chunk_bytes``: the array stays memory-mapped).

    Raises:
        CorruptCacheError: naming the file, what is wrong (dtype, shape, count of NaN/inf values) and the folder
            to delete.
    """
    ndim = layout.count(",") + 1
    if not np.issubdtype(array.dtype, np.floating):
        raise _corrupt(file, folder, f"dtype {array.dtype}, expected a floating-point array {layout}")
    if array.ndim != ndim:
        raise _corrupt(file, folder, f"shape {array.shape}, expected {ndim} dimensions {layout}")
    if scan and array.size:
        flat = array.reshape(array.shape[0], -1)
        step = max(1, chunk_bytes // max(flat.shape[1] * array.itemsize, 1))
        bad = sum(int(np.count_nonzero(~np.isfinite(flat[i : i + step]))) for i in range(0, flat.shape[0], step))
        if bad:
            raise _corrupt(file, folder, f"{bad} NaN or inf value(s) in an array that must be finite")
    return array


def settings_hash(payload: dict) -> str:
    """Short, stable hash of JSON-serialisable settings (cache folder names)."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def building_folder(final: Path, marker: str):
    """Build a cache folder atomically: yield a temporary sibling, rename it to ``final`` when the block succeeds.

    If another process published ``final`` first (its ``marker`` file exists), that copy is kept and ours dropped;
    on any failure the temporary folder is removed, so a half-built cache never appears under ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield tmp
        try:
            tmp.rename(final)
        except OSError:  # another process finished first: use its copy
            if not (final / marker).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class PreparedCorpus:
    """A preprocessed corpus in a cache folder: audio, raw log-mels, split, training-set normaliser, report.

    Files in ``path``: ``audio.npy`` ``(rows, n_samples)`` float32, ``mel.npy`` ``(rows, n_mels, n_frames)`` float32
    (raw ``log(1 + mel)``, not normalised), ``index.json`` (ids, rows, splits, report, settings) and
    ``normalizer.json`` (Eq. 49 statistics of the training split). Arrays are memory-mapped, not loaded.
    """

    def __init__(self, path: str | Path):
        path = Path(path)
        index_file = path / "index.json"
        if not index_file.is_file():
            raise ValueError(f"{path} is not a prepared corpus (no index.json)")
        index = read_cache_json(index_file, path)
        if index.get("format") != _CACHE_FORMAT:
            raise ValueError(f"{path}: cache format {index.get('format')!r}, expected {_CACHE_FORMAT}; delete it")
        self.path = path
        try:
            self.name: str = index["name"]
            self.key: str = index["key"]
            self.settings: dict = index["settings"]
            self.ids: tuple[str, ...] = tuple(index["ids"])
            self.rows = np.asarray(index["rows"], dtype=np.int64)
            self.is_test = np.asarray(index["is_test"], dtype=bool)
            r = index["report"]
            self.report = SkipReport(
                corpus=r["corpus"],
                n_listed=r["n_listed"],
                n_kept=r["n_kept"],
                n_train=r["n_train"],
                n_test=r["n_test"],
                skipped=tuple(tuple(x) for x in r["skipped"]),
                n_padded=r["n_padded"],
                unlisted=tuple(r["unlisted"]),
            )
            self.settings["preprocess"]["mel"]["hop_length"]
        except (KeyError, TypeError, ValueError) as exc:
            raise _corrupt(index_file, path, f"missing or malformed field {exc}") from exc
        self.audio = _check_cached_floats(load_cache_array(path / "audio.npy", path), path / "audio.npy", path,
                                          "(rows, n_samples)", scan=False)
        self.mel = _check_cached_floats(load_cache_array(path / "mel.npy", path), path / "mel.npy", path,
                                        "(rows, n_mels, n_frames)")
        normalizer_file = path / "normalizer.json"
        try:
            self.normalizer = MelNormalizer(**read_cache_json(normalizer_file, path))
        except FileNotFoundError as exc:
            raise _corrupt(normalizer_file, path, "missing") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CorruptCacheError):
                raise
            raise _corrupt(normalizer_file, path, exc) from exc
        cfg = self.settings["preprocess"]
        hop = cfg["mel"]["hop_length"]
        n_rows = self.report.n_listed
        if not (len(self.ids) == len(self.rows) == len(self.is_test) == self.report.n_kept):
            raise ValueError(f"{path}: index.json is inconsistent; delete the folder to rebuild it")
        if self.audio.shape != (n_rows, cfg["n_samples"]) or self.mel.shape != (
            n_rows,
            cfg["mel"]["n_mels"],
            cfg["n_samples"] // hop,
        ):
            raise ValueError(
                f"{path}: cached arrays have shapes {self.audio.shape} / {self.mel.shape}, inconsistent with "
                f"index.json; delete the folder to rebuild it"
            )

    def dataset(self, split: str = "train", normalizer: MelNormalizer | None = None) -> "SpeechDataset":
        """The ``split`` (``"train"``, ``"test"`` or ``"all"``) as a :class:`SpeechDataset`.

        Args:
            split: which items.
            normalizer: min–max statistics to apply; defaults to this corpus's training-set statistics.
        """
        split = check_choice("split", split, SPLITS)
        if split == "all":
            sel = np.ones(len(self.ids), dtype=bool)
        else:
            sel = self.is_test if split == "test" else ~self.is_test
        if not sel.any():
            raise ValueError(f"{self.name}: the {split!r} split is empty ({self.report})")
        return SpeechDataset(
            audio=self.audio,
            mel=self.mel,
            rows=self.rows[sel],
            ids=tuple(i for i, s in zip(self.ids, sel) if s),
            normalizer=normalizer or self.normalizer,
            report=self.report,
            split=split,
            hop_length=self.settings["preprocess"]["mel"]["hop_length"],
            sample_rate=self.settings["preprocess"]["sample_rate"],
        )


def prepare_clips(
    name: str,
    sources: Sequence[tuple[str, Path]],
    *,
    config: PreprocessConfig = THESIS_PREPROCESS,
    cache_dir: str | Path | None = None,
    key_payload: dict | None = None,
    unlisted: Iterable[str] = (),
    progress: bool = False,
    batch_size: int = 32,
) -> PreparedCorpus:
    """Preprocess a list of clips once into a cache folder keyed by a hash of everything that defines the result.

    Args:
        name: corpus name (folder prefix and report label).
        sources: ``(item id, audio path)`` in the corpus's own list order (defines the split).
        config: preprocessing settings.
        cache_dir: parent folder of the cache (default :func:`default_cache_dir`).
        key_payload: extra JSON-serialisable data identifying the source (e.g. file list hash, file sizes/mtimes).
        unlisted: ids of audio files present but not listed (reported only).
        progress: show a tqdm progress bar.
        batch_size: clips per mel batch.

    Returns:
        The :class:`PreparedCorpus` (built now, or read from the cache).

    Raises:
        ValueError: empty list, duplicate ids, no clip kept, or an empty training split.
    """
    if not sources:
        raise ValueError(f"{name}: the file list is empty")
    ids = [s[0] for s in sources]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{name}: duplicate item ids in the file list, e.g. {dup}")
    settings = {"preprocess": config.to_dict(), "ids": ids, "source": key_payload or {}, "format": _CACHE_FORMAT}
    key = settings_hash(settings)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / f"{name}-{key}"
    if (final / "index.json").is_file():
        return PreparedCorpus(final)
    with building_folder(final, "index.json") as tmp:
        kept_rows, skipped, n_padded, lo, hi = _write_arrays(tmp, name, sources, config, progress, batch_size)
        n = len(sources)
        if not kept_rows:
            raise ValueError(f"{name}: no usable clip among {n} listed; first reasons: {skipped[:3]}")
        kept = np.asarray(kept_rows)
        is_test = compute_test_mask(n)[kept]
        n_test = int(is_test.sum())
        n_train = len(kept) - n_test
        if n_train == 0:
            raise ValueError(f"{name}: every training clip was skipped; first reasons: {skipped[:3]}")
        report = SkipReport(corpus=name, n_listed=n, n_kept=len(kept), n_train=n_train, n_test=n_test,
                            skipped=tuple(skipped), n_padded=n_padded, unlisted=tuple(sorted(unlisted)))
        MelNormalizer(minimum=lo, maximum=hi).save(tmp / "normalizer.json")
        index = {"format": _CACHE_FORMAT, "name": name, "key": key, "settings": settings,
                 "ids": [ids[r] for r in kept], "rows": kept.tolist(), "is_test": is_test.tolist(),
                 "report": {**asdict(report), "skipped": [list(s) for s in report.skipped]}}
        (tmp / "index.json").write_text(json.dumps(index) + "\n")
    corpus = PreparedCorpus(final)
    (logger.warning if report.skipped else logger.info)("%s", report)
    return corpus


def _write_arrays(folder: Path, name: str, sources: Sequence[tuple[str, Path]], config: PreprocessConfig,
                  progress: bool, batch_size: int) -> tuple[list[int], list[tuple[str, str]], int, float, float]:
    """Fill ``audio.npy`` and ``mel.npy`` in ``folder`` (one row per listed item; a skipped item's row stays zero).

    Returns ``(kept rows, (id, reason) of the skipped items, number zero-padded, min, max)``, the last two the
    extremes of the training split's raw log-mels (the normaliser's statistics).
    """
    n = len(sources)
    is_test = compute_test_mask(n)
    audio_mm = np.lib.format.open_memmap(folder / "audio.npy", mode="w+", dtype=np.float32,
                                         shape=(n, config.n_samples))
    mel_mm = np.lib.format.open_memmap(folder / "mel.npy", mode="w+", dtype=np.float32,
                                       shape=(n, config.mel.n_mels, config.n_frames))
    batcher = _MelBatcher(config, audio_mm, mel_mm, is_test)
    kept_rows: list[int] = []
    skipped: list[tuple[str, str]] = []
    n_padded = 0
    iterator = enumerate(sources)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=n, desc=f"preparing {name}")
    for row, (item_id, path) in iterator:
        audio, reason, padded = load_clip(path, config)
        if audio is None:
            logger.warning("%s: skipping %s (%s)", name, item_id, reason)
            skipped.append((item_id, reason))
            continue
        audio_mm[row] = audio
        kept_rows.append(row)
        n_padded += int(padded)
        batcher.pending.append(row)
        if len(batcher.pending) >= batch_size:
            batcher.flush()
    batcher.flush()
    audio_mm.flush()
    mel_mm.flush()
    return kept_rows, skipped, n_padded, batcher.lo, batcher.hi


class _MelBatcher:
    """The log-mels of the pending rows of ``audio``, computed in one batch into ``mel``; keeps the extremes of the
    training rows' values."""

    def __init__(self, config: PreprocessConfig, audio: np.ndarray, mel: np.ndarray, is_test: np.ndarray):
        from greenaudio.vocoders.mel import MelFrontEnd

        self.config, self.audio, self.mel, self.is_test = config, audio, mel, is_test
        self.front = MelFrontEnd(config.mel)
        self.pending: list[int] = []
        self.lo, self.hi = np.inf, -np.inf

    def flush(self) -> None:
        import torch

        if not self.pending:
            return
        config = self.config
        with torch.no_grad():
            mel = self.front(torch.from_numpy(np.stack([self.audio[r] for r in self.pending]))).numpy()
        if mel.shape[-1] * config.mel.hop_length != config.n_samples:
            raise ValueError(
                f"mel/waveform length mismatch: {mel.shape[-1]} frames x hop {config.mel.hop_length} != "
                f"{config.n_samples} samples"
            )
        for j, r in enumerate(self.pending):
            self.mel[r] = mel[j]
            if not self.is_test[r]:
                self.lo, self.hi = min(self.lo, float(mel[j].min())), max(self.hi, float(mel[j].max()))
        self.pending.clear()


class SpeechDataset(Dataset):
    """Preprocessed speech clips: item ``i`` is ``(audio, mel)``.

    ``audio``: float32 tensor ``(n_samples,)`` at 16 kHz (full scale 1.0); ``mel``: float32 tensor
    ``(n_mels, n_samples // hop)`` normalised with ``normalizer`` (Eq. 49; values in [0, 1] on the training split).

    Attributes:
        ids: item ids in list order.
        split: ``"train"``, ``"test"`` or ``"all"``.
        normalizer: the min–max statistics applied (fitted on the training split).
        report: the corpus's :class:`SkipReport`; ``skipped`` is ``report.skipped``.
    """

    def __init__(
        self,
        audio: np.ndarray,
        mel: np.ndarray,
        rows: np.ndarray,
        ids: Sequence[str],
        normalizer: MelNormalizer,
        report: SkipReport,
        split: str,
        hop_length: int = 256,
        sample_rate: int = 16_000,
    ):
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) != len(ids):
            raise ValueError(f"{len(rows)} rows but {len(ids)} ids")
        if audio.ndim != 2 or mel.ndim != 3 or audio.shape[0] != mel.shape[0]:
            raise ValueError(f"need audio (M, N) and mel (M, n_mels, frames), got {audio.shape} and {mel.shape}")
        if mel.shape[-1] * hop_length != audio.shape[-1]:
            raise ValueError(
                f"mel/waveform length mismatch: {mel.shape[-1]} frames x hop {hop_length} != {audio.shape[-1]} samples"
            )
        if len(rows) and (rows.min() < 0 or rows.max() >= audio.shape[0]):
            raise ValueError("row indices out of range")
        self._audio, self._mel, self._rows = audio, mel, rows
        self.ids = tuple(ids)
        self.normalizer = normalizer
        self.report = report
        self.split = split
        self.hop_length = hop_length
        self.sample_rate = sample_rate

    @property
    def skipped(self) -> tuple[tuple[str, str], ...]:
        """``(id, reason)`` of every skipped item of the corpus (both splits)."""
        return self.report.skipped

    @property
    def n_samples(self) -> int:
        return int(self._audio.shape[-1])

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int):
        import torch

        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        r = self._rows[i]
        audio = torch.from_numpy(np.array(self._audio[r], dtype=np.float32))
        mel = self.normalizer.normalize(torch.from_numpy(np.array(self._mel[r], dtype=np.float32)))
        return audio, mel

    def raw_mel(self, i: int) -> np.ndarray:
        """Un-normalised ``log(1 + mel)`` of item ``i``, ``(n_mels, frames)``."""
        return np.array(self._mel[self._rows[i]], dtype=np.float32)

    def audio_array(self) -> np.ndarray:
        """All clips as one float32 array ``(len, n_samples)`` (loaded into memory)."""
        return np.asarray(self._audio[self._rows], dtype=np.float32)

    def __repr__(self) -> str:
        return f"SpeechDataset({self.report.corpus!r}, split={self.split!r}, items={len(self)})"
