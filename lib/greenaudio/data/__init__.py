"""Speech data for Chapter 5: LJSpeech with the thesis preprocessing, and offline espeak-ng corpora.

Used by: notebooks of Chapter 5, :mod:`greenaudio.metrics.classifier`, tests.

- :func:`load_ljspeech` – the real LJSpeech-1.1 corpus (user-supplied folder), thesis §5.1.2 preprocessing;
- :func:`load_espeak_speech` – a single-speaker corpus any machine builds offline, same interface;
- :func:`build_digit_corpus` – a multi-voice spoken-digit corpus (SC09-like) with labels;
- :func:`load_piper_trial` – the shipped results of the corpus trial on a Piper voice (not adopted).

Every speech dataset yields ``(audio_16k (16384,), normalised mel (80, 64))`` items and carries a ``report``
(:class:`SkipReport`) of the clips skipped and why. Preprocessed arrays are cached under ``$GREENAUDIO_CACHE``
(default ``~/.cache/greenaudio``) in folders named by a hash of their settings.
"""

from .base import PreprocessConfig, SpeechDataset, default_cache_dir
from .espeak import build_digit_corpus, load_espeak_speech
from .ljspeech import load_ljspeech
from .piper import load_piper_trial
from .sentences import SENTENCES

__all__ = ["load_espeak_speech", "load_ljspeech", "build_digit_corpus", "load_piper_trial", "default_cache_dir",
           "SpeechDataset", "PreprocessConfig", "SENTENCES"]
