"""PESQ / STOI / DNSMOS / DistillMOS wrappers (greenaudio.metrics.intrusive, .mos) on a synthesized speech clip."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from greenaudio.metrics import compute_distillmos, compute_dnsmos, compute_pesq, compute_stoi


@pytest.fixture(scope="module")
def clip():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    import librosa

    from greenaudio.data.espeak import synthesize_espeak

    x, sr = synthesize_espeak("The old lighthouse keeper climbed the stairs every evening at dusk.")
    x = librosa.resample(x, orig_sr=sr, target_sr=16000, res_type="soxr_hq").astype(np.float32)
    noisy = np.clip(x + 0.02 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32), -1, 1)
    return x, noisy


def test_pesq(clip):
    x, noisy = clip
    assert compute_pesq(x, x, 16000, "wb") > 4.5
    wb, nb = compute_pesq(x, noisy, 16000, "wb"), compute_pesq(x, noisy, 16000, "nb")
    assert 1.0 <= wb < 4.0 and -0.5 <= nb < 4.5
    x8 = x[::2]
    assert compute_pesq(x8, x8, 8000, "nb") > 4.0
    with pytest.raises(ValueError, match="wb"):
        compute_pesq(x8, x8, 8000, "wb")
    with pytest.raises(ValueError, match="sample rate"):
        compute_pesq(x, x, 22050, "nb")
    with pytest.raises(ValueError, match="same length"):
        compute_pesq(x, x[:-1], 16000)
    with pytest.raises(ValueError, match="mode"):
        compute_pesq(x, x, 16000, "swb")
    with pytest.raises(ValueError, match="0.25 s"):
        compute_pesq(x[:1000], x[:1000], 16000)
    with pytest.raises(ValueError, match="all zeros"):
        compute_pesq(np.zeros(16000), np.zeros(16000), 16000)


def test_pesq_of_a_silent_output_is_nan_not_a_crash(clip):
    x, _ = clip
    for mode in ("wb", "nb"):
        assert np.isnan(compute_pesq(x, np.zeros_like(x), 16000, mode))


def test_int16_pcm_is_read_at_full_scale_32768(clip):
    x, noisy = clip
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    as_float = pcm.astype(np.float64) / 32768
    assert compute_pesq(pcm, noisy, 16000) == pytest.approx(compute_pesq(as_float, noisy, 16000), abs=1e-6)
    assert compute_stoi(pcm, noisy, 16000) == pytest.approx(compute_stoi(as_float, noisy, 16000), abs=1e-9)
    with pytest.raises(ValueError, match="int32"):
        compute_stoi(pcm.astype(np.int32), noisy, 16000)


def test_stoi(clip):
    x, noisy = clip
    assert compute_stoi(x, x, 16000) == pytest.approx(1.0, abs=1e-6)
    assert 0.5 < compute_stoi(x, noisy, 16000) < 1.0
    assert compute_stoi(x, noisy, 16000, extended=True) < 1.0
    with pytest.raises(ValueError, match="non-silent"):
        compute_stoi(np.zeros(16000), np.zeros(16000), 16000)
    blip = np.r_[np.zeros(16000), x[8000:9000]]
    with pytest.raises(ValueError, match="non-silent"):
        compute_stoi(blip, blip, 16000)
    with pytest.raises(ValueError, match="1-D"):
        compute_stoi(np.stack([x, x]), np.stack([x, x]), 16000)


def test_stoi_on_a_few_samples_is_a_clear_error():
    tiny = np.linspace(-0.5, 0.5, 10)
    with pytest.raises(ValueError, match=r"STOI needs at least 0.4 s \(6400 samples at 16000 Hz.*got 10 samples"):
        compute_stoi(tiny, tiny, 16000)
    with pytest.raises(ValueError, match=r"sample_rate must be an integer >= 1000"):
        compute_stoi(tiny, tiny, 16000.0)


def test_mos_input_checks():
    with pytest.raises(ValueError, match="16000 Hz"):
        compute_dnsmos(np.zeros(22050), 22050)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        compute_distillmos(np.full(16000, 2.0))
    with pytest.raises(ValueError, match="at least"):
        compute_distillmos(np.full(100, 0.1))
    with pytest.raises(ValueError, match="zeros"):
        compute_dnsmos(np.zeros(16000))


def test_import_stays_light():
    import subprocess

    code = "import sys, greenaudio.metrics; print(any(m in sys.modules for m in ('torch', 'pesq', 'speechmos', 'distillmos')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def ranked():
    """Clean speech, the same speech in white noise at 0 dB SNR, and near-silence (white noise at -60 dB re 1.0).

    espeak-ng speech is robotic, so the predictors rate even the clean clip low (about 2.5); the sentence is long
    enough (5.4 s) for the noise to dominate the noisy clip's rating.
    """
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    import librosa

    from greenaudio.data.espeak import synthesize_espeak

    x, sr = synthesize_espeak("She sells sea shells by the sea shore, and the shells she sells are surely seashells.")
    x = librosa.resample(x, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    x = (0.5 * x / np.abs(x).max()).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    noisy = x + noise * np.sqrt(np.mean(x**2))  # equal power: 0 dB SNR
    noisy = (noisy / max(1.0, float(np.abs(noisy).max()))).astype(np.float32)
    silence_ish = (1e-3 * noise).astype(np.float32)
    return x, noisy, silence_ish


@pytest.mark.slow
def test_distillmos_ranks_clean_over_noisy_over_silence(ranked):
    clean, noisy, silence = compute_distillmos(np.stack(ranked))
    assert clean > noisy + 0.2 > silence + 0.2


@pytest.mark.slow
def test_dnsmos_ranks_clean_over_noisy_over_silence(ranked):
    clean, noisy, silence = (compute_dnsmos(a) for a in ranked)
    # P.808 (overall listening quality): clean > noisy > near-silence.
    assert clean["p808_mos"] > noisy["p808_mos"] + 0.5
    assert noisy["p808_mos"] > silence["p808_mos"]
    # P.835: noise drowns the speech (SIG, OVRL fall); near-silence has no speech at all (SIG lowest) but a clean
    # background (BAK high), which is why its OVRL is not below the noisy clip's.
    assert clean["ovrl_mos"] > noisy["ovrl_mos"] + 0.5
    assert clean["sig_mos"] > noisy["sig_mos"] > silence["sig_mos"]
    assert silence["bak_mos"] > noisy["bak_mos"]


@pytest.mark.slow
def test_distillmos(clip):
    x, noisy = clip
    clean = compute_distillmos(x)
    assert 1.0 <= clean <= 5.0
    batch = compute_distillmos(np.stack([x, noisy]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(clean, abs=1e-3) and 1.0 <= batch[1] <= 5.0
    stub = sys.modules.get("torchaudio")
    assert stub is None or "greenaudio stub" not in (stub.__doc__ or "")  # the stub does not outlive the import


@pytest.mark.slow
def test_dnsmos(clip):
    x, _ = clip
    scores = compute_dnsmos(x)
    assert set(scores) == {"ovrl_mos", "sig_mos", "bak_mos", "p808_mos"}
    assert all(1.0 <= v <= 5.0 for v in scores.values())
