"""Offline espeak-ng corpora (greenaudio.data.espeak): determinism, caching, interface."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from greenaudio.data import SENTENCES, build_digit_corpus, load_espeak_speech
from greenaudio.data.espeak import DIGIT_WORDS, build_speech_corpus, synthesize_espeak

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

FEW = SENTENCES[:10]


def test_sentences_embedded():
    assert len(SENTENCES) == 320 and len(set(SENTENCES)) == 320
    assert all("|" not in s and 5 <= len(s.split()) <= 16 for s in SENTENCES)


def test_speech_corpus_deterministic_and_cached(tmp_path):
    a = build_speech_corpus(tmp_path / "a", sentences=FEW)
    b = build_speech_corpus(tmp_path / "b", sentences=FEW)
    assert a.name == b.name  # same settings, same hash
    for wav in sorted((a / "wavs").iterdir()):
        assert wav.read_bytes() == (b / "wavs" / wav.name).read_bytes()
    assert build_speech_corpus(tmp_path / "a", sentences=FEW) == a
    assert build_speech_corpus(tmp_path / "a", sentences=FEW, pitch=60).name != a.name


def test_speech_corpus_interface(tmp_path):
    train = load_espeak_speech("train", cache_dir=tmp_path, sentences=FEW)
    test = load_espeak_speech("test", cache_dir=tmp_path, sentences=FEW)
    assert len(train) == 8 and len(test) == 2 and test.ids == ("ESP-0009", "ESP-0010")
    audio, mel = test[1]
    assert audio.shape == (16384,) and mel.shape == (80, 64)
    assert train.report.n_skipped == 0 and test.normalizer == train.normalizer
    assert 0.05 < float(audio.abs().max()) <= 1.0


def test_digit_corpus(tmp_path):
    kw = dict(voices=("en-us", "en-gb", "en-us+f2", "en-029", "en-gb+m3"), speeds_wpm=(160,), pitches=(50,))
    d = build_digit_corpus(tmp_path / "a", **kw)
    assert d.audio.shape == (50, 16000) and d.audio.dtype == np.float32
    assert list(d.labels[:10]) == list(range(10)) and len(DIGIT_WORDS) == 10
    assert d.is_test.sum() == 10 and set(np.array(d.voices)[d.is_test]) == {"en-gb+m3"}
    assert np.allclose(np.abs(d.audio).max(axis=1), 0.5)
    assert np.allclose(d.class_prior(), 0.1)
    xtr, ytr = d.split("train")
    assert xtr.shape == (40, 16000) and ytr.shape == (40,)
    again = build_digit_corpus(tmp_path / "b", **kw)
    assert again.path.name == d.path.name and np.array_equal(again.audio, d.audio)
    with pytest.raises(ValueError, match="no duplicates"):
        build_digit_corpus(tmp_path, voices=("en-us", "en-us"))


def test_synthesize_errors():
    with pytest.raises(ValueError, match="no audio"):
        synthesize_espeak("one", voice="xx-nonexistent-voice")
    with pytest.raises(ValueError, match="speed_wpm"):
        synthesize_espeak("one", speed_wpm=10)
    with pytest.raises(ValueError, match="empty"):
        synthesize_espeak("  ")


def test_a_corrupt_digit_cache_names_the_file(tmp_path):
    from greenaudio.data.base import CorruptCacheError

    kw = dict(voices=("en-us",), speeds_wpm=(160,), pitches=(50,))
    d = build_digit_corpus(tmp_path, **kw)
    (d.path / "digits.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CorruptCacheError, match=rf"digits.npz .*delete the cache folder {d.path}"):
        build_digit_corpus(tmp_path, **kw)
    shutil.rmtree(d.path)
    assert np.array_equal(build_digit_corpus(tmp_path, **kw).audio, d.audio)
