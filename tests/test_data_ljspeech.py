"""LJSpeech loader (greenaudio.data.ljspeech / base) on tiny fake LJSpeech folders made here, bad files included."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from greenaudio.data import PreprocessConfig, SpeechDataset, load_ljspeech
from greenaudio.data.base import PreparedCorpus, SkipReport, compute_test_mask, load_clip
from greenaudio.data.ljspeech import prepare_ljspeech, read_ljspeech_metadata
from greenaudio.vocoders.mel import MelNormalizer

SR = 22_050


def _voice_like(seed: int, seconds: float = 1.3, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 100 + 20 * seed
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * x / np.abs(x).max() + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


# metadata order deliberately not alphabetical: it, not the filesystem, defines the split
GOOD = ["LJ002-0001", "LJ001-0003", "LJ001-0001", "LJ003-0002", "LJ001-0002", "LJ002-0002", "LJ003-0001"]
BAD = {"LJ009-0001": "corrupt", "LJ009-0002": "empty", "LJ009-0003": "silent", "LJ009-0004": "8k", "LJ009-0005": "missing"}
ORDER = GOOD[:4] + ["LJ009-0001", "LJ009-0002"] + GOOD[4:6] + ["LJ009-0003", "LJ009-0004", "LJ009-0005"] + GOOD[6:]


def make_fake_ljspeech(root, order=ORDER, write_order=None):
    wavs = root / "wavs"
    wavs.mkdir(parents=True)
    for k, item in enumerate(write_order or order):
        kind = BAD.get(item, "good")
        path = wavs / f"{item}.wav"
        if kind == "good":
            sf.write(path, _voice_like(sorted(GOOD).index(item)), SR, subtype="PCM_16")
        elif kind == "corrupt":
            path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
        elif kind == "empty":
            sf.write(path, np.zeros(0, dtype=np.float32), SR, subtype="PCM_16")
        elif kind == "silent":
            sf.write(path, np.zeros(SR, dtype=np.float32), SR, subtype="PCM_16")
        elif kind == "8k":
            sf.write(path, _voice_like(3, sr=8000), 8000, subtype="PCM_16")
    sf.write(wavs / "LJ999-9999.wav", _voice_like(1), SR)  # present but not listed
    lines = [f"{i}|Text number {n}.|Text number {n}." for n, i in enumerate(order)]
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    base = tmp_path_factory.mktemp("lj")
    root = make_fake_ljspeech(base / "LJSpeech-1.1")
    return root, base / "cache"


def test_splits_report_and_items(fake):
    root, cache = fake
    train = load_ljspeech(root, "train", cache_dir=cache)
    test = load_ljspeech(root, "test", cache_dir=cache)
    report = train.report
    assert isinstance(report, SkipReport)
    assert report.n_listed == len(ORDER) == 12
    # split on the listed order: last 12 // 5 = 2 rows are test, whatever is skipped
    assert test.ids == tuple(ORDER[-2:][i] for i in range(2) if ORDER[-2:][i] not in BAD)
    assert train.ids == tuple(i for i in ORDER[:-2] if i not in BAD)
    assert report.n_kept == len(GOOD) == len(train) + len(test)
    assert dict(report.skipped).keys() == set(BAD)
    assert report.reasons() == {"unreadable": 1, "empty": 1, "silent": 1, "sample rate": 1, "missing": 1}
    assert "8000 Hz, expected 22050 Hz" in dict(report.skipped)["LJ009-0004"]
    assert report.unlisted == ("LJ999-9999",)
    assert train.skipped == report.skipped and "5 skipped" in str(report)
    audio, mel = train[0]
    assert audio.shape == (16384,) and audio.dtype == torch.float32
    assert mel.shape == (80, 64) and mel.dtype == torch.float32
    mels = torch.stack([train[i][1] for i in range(len(train))])
    assert float(mels.min()) == pytest.approx(0.0, abs=1e-6) and float(mels.max()) == pytest.approx(1.0, abs=1e-6)
    assert test.normalizer == train.normalizer  # test uses training statistics
    assert (root.parent / "cache").exists()


def test_cache_reused_and_stats_stored(fake):
    root, cache = fake
    corpus = prepare_ljspeech(root, cache_dir=cache)
    again = prepare_ljspeech(root, cache_dir=cache)
    assert corpus.path == again.path
    assert MelNormalizer.load(corpus.path / "normalizer.json") == corpus.normalizer
    ds = corpus.dataset("all")
    assert len(ds) == len(GOOD)
    with pytest.raises(ValueError, match="split must be one of"):
        corpus.dataset("valid")


def test_split_independent_of_filesystem_order(tmp_path, fake):
    root, cache = fake
    other = make_fake_ljspeech(tmp_path / "copy" / "LJSpeech-1.1", write_order=list(reversed(ORDER)))
    a = load_ljspeech(root, "test", cache_dir=cache)
    b = load_ljspeech(other, "test", cache_dir=tmp_path / "cache2")
    assert a.ids == b.ids
    assert torch.equal(a[0][0], b[0][0])
    assert load_ljspeech(other, "train", cache_dir=tmp_path / "cache2").ids == load_ljspeech(root, cache_dir=cache).ids


def test_thesis_split_sizes():
    mask = compute_test_mask(13_100)
    assert mask.sum() == 2_620 and (~mask).sum() == 10_480 and mask[-2620:].all()
    assert compute_test_mask(4).sum() == 0


def test_metadata_errors(tmp_path):
    with pytest.raises(ValueError, match="LJSpeech folder not found"):
        load_ljspeech(tmp_path / "nowhere")
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no metadata.csv"):
        load_ljspeech(tmp_path / "a")
    (tmp_path / "a" / "metadata.csv").write_text("LJ1|hello\n")
    with pytest.raises(ValueError, match="no wavs/"):
        load_ljspeech(tmp_path / "a")
    meta = tmp_path / "m.csv"
    meta.write_text("LJ1|hello|hello\nthis line has no separator\n")
    with pytest.raises(ValueError, match="line 2: malformed"):
        read_ljspeech_metadata(meta)
    meta.write_text("LJ1|a\nLJ1|b\n")
    with pytest.raises(ValueError, match="duplicate clip id"):
        read_ljspeech_metadata(meta)
    meta.write_text("../x|a\n")
    with pytest.raises(ValueError, match="invalid clip id"):
        read_ljspeech_metadata(meta)
    meta.write_text("\n\n")
    with pytest.raises(ValueError, match="lists no clip"):
        read_ljspeech_metadata(meta)
    meta.write_bytes(b"LJ1|\xff\xfe\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_ljspeech_metadata(meta)
    assert read_ljspeech_metadata(_write(tmp_path / "ok.csv", "LJ1|raw|norm\n\nLJ2|only raw\n")) == [
        ("LJ1", "norm"),
        ("LJ2", "only raw"),
    ]


def _write(path, text):
    path.write_text(text)
    return path


def test_all_bad_raises(tmp_path):
    root = tmp_path / "LJ"
    (root / "wavs").mkdir(parents=True)
    (root / "wavs" / "A.wav").write_bytes(b"not audio")
    (root / "metadata.csv").write_text("A|x\nB|y\n")
    with pytest.raises(ValueError, match="no usable clip"):
        load_ljspeech(root, cache_dir=tmp_path / "c")
    assert not any(p.name.startswith(".") for p in (tmp_path / "c").iterdir())  # no half-written cache left


def test_load_clip_short_stereo_and_rates(tmp_path):
    cfg = PreprocessConfig()
    p = tmp_path / "short.wav"
    sf.write(p, _voice_like(0, seconds=0.5), SR)
    audio, reason, padded = load_clip(p, cfg)
    assert audio.shape == (16384,) and padded and reason == "" and not audio[8100:].any()
    assert load_clip(p, PreprocessConfig(pad_short=False))[1].startswith("too short")
    sf.write(p, _voice_like(0, seconds=0.1), SR)
    assert load_clip(p, cfg)[1].startswith("too short")
    sf.write(p, np.stack([_voice_like(0), _voice_like(1)], axis=1), SR)
    assert load_clip(p, cfg)[1].startswith("channels")
    sf.write(p, _voice_like(0, sr=8000), 8000)
    assert load_clip(p, PreprocessConfig(expected_sample_rate=22050))[1].startswith("sample rate")
    audio, reason, _ = load_clip(p, cfg)  # any rate accepted when expected_sample_rate is None
    assert reason == "" and audio.shape == (16384,)


def test_config_and_dataset_validation():
    with pytest.raises(ValueError, match="multiple of the mel hop"):
        PreprocessConfig(n_samples=1000)
    with pytest.raises(ValueError, match="sample_rate"):
        PreprocessConfig(sample_rate=22050)
    report = SkipReport("x", 1, 1, 1, 0)
    norm = MelNormalizer(0.0, 1.0)
    with pytest.raises(ValueError, match="mel/waveform length mismatch"):
        SpeechDataset(np.zeros((1, 16384), np.float32), np.zeros((1, 80, 63), np.float32), [0], ["a"], norm, report, "train")
    ds = SpeechDataset(np.zeros((1, 16384), np.float32), np.zeros((1, 80, 64), np.float32), [0], ["a"], norm, report, "train")
    with pytest.raises(IndexError):
        ds[1]


def test_corrupted_cache_detected(tmp_path, fake):
    root, _ = fake
    corpus = prepare_ljspeech(root, cache_dir=tmp_path)
    np.save(corpus.path / "mel.npy", np.zeros((2, 80, 64), np.float32))
    with pytest.raises(ValueError, match="delete the folder"):
        prepare_ljspeech(root, cache_dir=tmp_path)


@pytest.mark.parametrize(
    "victim, damage, message",
    [
        ("index.json", b'{"format": 1, "name": ', "index.json .*JSONDecodeError"),
        ("index.json", b'["not", "an", "object"]', "index.json .*expected a JSON object"),
        ("index.json", None, "index.json .*missing or malformed field"),
        ("mel.npy", b"\x93NUMPY garbage", "mel.npy"),
        ("audio.npy", b"", "audio.npy"),
        ("normalizer.json", b"{", "normalizer.json"),
    ],
)
def test_a_corrupt_cache_names_the_file_and_the_folder_to_delete(fake, tmp_path, victim, damage, message):
    from greenaudio.data.base import CorruptCacheError

    root, cache = fake
    good = prepare_ljspeech(root, cache_dir=cache).path
    copy = tmp_path / good.name
    shutil.copytree(good, copy)
    if damage is None:  # valid JSON, a field removed
        index = json.loads((copy / victim).read_text())
        del index["report"]
        (copy / victim).write_text(json.dumps(index))
    else:
        (copy / victim).write_bytes(damage)
    with pytest.raises(CorruptCacheError, match=message) as info:
        PreparedCorpus(copy)
    assert f"delete the cache folder {copy}" in str(info.value)
    assert isinstance(info.value, ValueError)
    # a rebuild after deleting the folder works (the shared cache was never touched)
    shutil.rmtree(copy)
    assert prepare_ljspeech(root, cache_dir=cache).path == good


def test_preprocess_config_validates_and_normalises_numpy_scalars():
    a = PreprocessConfig(n_samples=np.int64(2**14), min_samples=np.int32(4096), silence_peak=np.float32(1e-4))
    assert a.n_samples == 2**14 and a.silence_peak == pytest.approx(1e-4, rel=1e-6)
    assert type(a.n_samples) is int and type(a.min_samples) is int and type(a.silence_peak) is float
    for kwargs, message in [
        ({"n_samples": 2.0**14}, "n_samples must be an integer >= 1"),
        ({"pad_short": 1}, "pad_short must be True or False"),
        ({"silence_peak": -1.0}, "silence_peak must be a finite number >= 0"),
        ({"expected_sample_rate": "22050"}, "expected_sample_rate must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            PreprocessConfig(**kwargs)
    with pytest.raises(ValueError, match="n_items must be an integer >= 0"):
        compute_test_mask(-1)
    assert compute_test_mask(np.int64(10)).sum() == 2
