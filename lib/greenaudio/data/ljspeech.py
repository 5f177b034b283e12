"""The LJSpeech 1.1 corpus (Ito, 2017) with the thesis's preprocessing (§5.1.2).

Used by: notebooks of Chapter 5 (training and evaluation of the vocoders) when the user has the corpus.

LJSpeech cannot be downloaded by this package (no network use at run time): get ``LJSpeech-1.1`` from
https://keithito.com/LJ-Speech-Dataset/ and point :func:`load_ljspeech` at the extracted folder. It must contain
``metadata.csv`` (one ``id|transcription|normalised transcription`` row per clip, UTF-8, no header, ``|``-separated,
no quoting) and ``wavs/<id>.wav`` (mono, 22,050 Hz, 16-bit PCM).

The row order of ``metadata.csv`` is the corpus's file list: the train/test split is the thesis code's (last
``len // 5`` rows = 2,620 test clips of 13,100; 10,480 training clips), never the filesystem's order.

>>> from greenaudio.data import load_ljspeech
>>> train = load_ljspeech("~/data/LJSpeech-1.1", "train")   # first call preprocesses (minutes), then cached
>>> audio, mel = train[0]                                  # (16384,), (80, 64)
>>> print(train.report)                                    # what was skipped, and why
"""

from __future__ import annotations

from pathlib import Path

from .base import PreprocessConfig, SpeechDataset, prepare_clips, PreparedCorpus
from greenaudio.vocoders.mel import MelNormalizer

__all__ = ["prepare_ljspeech", "load_ljspeech"]

LJSPEECH_SAMPLE_RATE = 22_050
"""Sample rate of LJSpeech's WAV files (in Hz)."""


def read_ljspeech_metadata(path: str | Path) -> list[tuple[str, str]]:
    """Rows of an LJSpeech-style ``metadata.csv``: ``(id, transcription)`` in file order.

    Args:
        path: the ``metadata.csv`` file.

    Returns:
        ``(id, text)`` pairs (the normalised transcription when present, else the raw one). Blank lines are ignored.

    Raises:
        ValueError: missing/unreadable file, not UTF-8, a row with fewer than 2 ``|``-separated fields, an empty or
            path-like id, duplicate ids, or no row at all. The message names the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"metadata file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc})") from exc
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2:
            raise ValueError(
                f"{path}, line {lineno}: malformed row {line[:60]!r}; expected 'id|transcription[|normalised]'"
            )
        item_id = fields[0].strip()
        if not item_id or "/" in item_id or "\\" in item_id or item_id in (".", ".."):
            raise ValueError(f"{path}, line {lineno}: invalid clip id {item_id!r}")
        if item_id in seen:
            raise ValueError(f"{path}, line {lineno}: duplicate clip id {item_id!r} (first on line {seen[item_id]})")
        seen[item_id] = lineno
        rows.append((item_id, (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()))
    if not rows:
        raise ValueError(f"{path} lists no clip")
    return rows


def _check_root(root: str | Path) -> tuple[Path, Path, Path]:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(
            f"LJSpeech folder not found: {root}. Download LJSpeech-1.1 from https://keithito.com/LJ-Speech-Dataset/ "
            "and pass the extracted folder (it contains metadata.csv and wavs/)"
        )
    metadata, wavs = root / "metadata.csv", root / "wavs"
    if not metadata.is_file():
        raise ValueError(f"{root} has no metadata.csv; is it an LJSpeech-1.1 folder?")
    if not wavs.is_dir():
        raise ValueError(f"{root} has no wavs/ folder; is it an LJSpeech-1.1 folder?")
    return root.resolve(), metadata, wavs


def prepare_ljspeech(
    root: str | Path,
    *,
    config: PreprocessConfig | None = None,
    cache_dir: str | Path | None = None,
    name: str = "ljspeech",
    progress: bool = False,
) -> PreparedCorpus:
    """Preprocess an LJSpeech-format folder once (cached) and return both splits with their report.

    Args:
        root: folder with ``metadata.csv`` and ``wavs/``.
        config: preprocessing settings; default: the thesis's, with ``expected_sample_rate`` 22,050 Hz (files at
            another rate are skipped and reported).
        cache_dir: parent folder of the cache (default ``$GREENAUDIO_CACHE`` or ``~/.cache/greenaudio``). The cache
            key hashes the settings, ``metadata.csv``'s bytes, the root path and every listed file's size and
            modification time, so editing the corpus rebuilds it.
        name: corpus name used in the cache folder and report.
        progress: show a progress bar.

    Raises:
        ValueError: missing folder/metadata/wavs, malformed metadata, no usable clip.
    """
    import hashlib

    root, metadata, wavs = _check_root(root)
    if config is None:
        config = PreprocessConfig(expected_sample_rate=LJSPEECH_SAMPLE_RATE)
    rows = read_ljspeech_metadata(metadata)
    sources = [(item_id, wavs / f"{item_id}.wav") for item_id, _ in rows]
    stats = []
    for _, p in sources:
        try:
            st = p.stat()
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append(None)
    listed = {i for i, _ in rows}
    unlisted = sorted(p.stem for p in wavs.glob("*.wav") if p.stem not in listed)
    payload = {
        "root": str(root),
        "metadata_sha256": hashlib.sha256(metadata.read_bytes()).hexdigest(),
        "files_sha256": hashlib.sha256(repr(stats).encode()).hexdigest(),
    }
    return prepare_clips(
        name, sources, config=config, cache_dir=cache_dir, key_payload=payload, unlisted=unlisted, progress=progress
    )


def load_ljspeech(
    root: str | Path,
    split: str = "train",
    *,
    config: PreprocessConfig | None = None,
    cache_dir: str | Path | None = None,
    normalizer: MelNormalizer | None = None,
    progress: bool = False,
) -> SpeechDataset:
    """LJSpeech (or any LJSpeech-format folder) preprocessed as in thesis §5.1.2, one split as a dataset.

    Args:
        root: the ``LJSpeech-1.1`` folder (``metadata.csv`` + ``wavs/``).
        split: ``"train"`` (first 80 % of ``metadata.csv`` rows), ``"test"`` (last ``len // 5`` rows) or ``"all"``.
        config: preprocessing settings (see :func:`prepare_ljspeech`).
        cache_dir: cache parent folder.
        normalizer: min–max statistics to apply instead of this corpus's training-set ones.
        progress: show a progress bar while preprocessing.

    Returns:
        A :class:`~greenaudio.data.base.SpeechDataset` of ``(audio (16384,), normalised mel (80, 64))`` items, with
        ``.report`` / ``.skipped`` listing the clips left out and why.
    """
    corpus = prepare_ljspeech(root, config=config, cache_dir=cache_dir, progress=progress)
    return corpus.dataset(split, normalizer=normalizer)
