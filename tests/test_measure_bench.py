"""Bring-your-own-vocoder benchmarking, protocol and input validation, timing, host detection and the CLI."""

import math

import pytest
import torch
from torch import nn

torch.set_num_threads(1)

from greenaudio import host, measure  # noqa: E402
from greenaudio.measure import Protocol, benchmark_model  # noqa: E402
from greenaudio.vocoders.base import Vocoder, VocoderConfig  # noqa: E402

HOP = 64
TINY = Protocol(n_clips=2, clip_duration_s=0.25, repeats=2, warmup=1, flop_clip_s=0.25, idle_window_s=0)
EST = {"energy_mode": "estimated", "hardware": "Xeon Gold 5220R"}


class TinyUpsampler(nn.Module):
    """mel (B, 80, frames) -> audio (B, frames * HOP)."""

    def __init__(self, hop=HOP):
        super().__init__()
        self.pre = nn.utils.parametrizations.weight_norm(nn.Conv1d(80, 8, 3, padding=1))
        self.up = nn.ConvTranspose1d(8, 1, hop, stride=hop)

    def forward(self, mel):
        return torch.tanh(self.up(self.pre(mel))).squeeze(1)


class TinyDiffusion(Vocoder):
    """A Vocoder whose procedure has a number of steps, to check it is recorded and counted."""

    family = "diffusion"

    def __init__(self, config=VocoderConfig(model="tiny", size="custom", hop_length=HOP)):
        super().__init__(config)
        self.net = TinyUpsampler(HOP)

    def default_procedure(self):
        return {"steps": 2}

    def _generate(self, mel, *, generator=None, steps=2):
        audio = torch.randn(mel.shape[0], mel.shape[-1] * HOP, generator=generator, device=mel.device)
        for _ in range(steps):
            audio = 0.5 * audio + self.net(mel)
        return audio


def test_bring_your_own_module():
    rec = benchmark_model(TinyUpsampler(), name="my-vocoder", hop_length=HOP, sample_rate=16000, protocol=TINY, **EST)
    assert rec.status == "ok" and rec.model == "my-vocoder" and rec.size == "custom"
    frames = math.ceil(0.25 * 16000 / HOP)
    assert rec.audio_s_per_run == 2 * frames * HOP / 16000
    analytic = measure.compute_conv1d_flops(80, 8, 3, frames) + measure.compute_conv_transpose1d_flops(8, 1, HOP, frames)
    assert rec.gflops_per_audio_s == pytest.approx(analytic / 1e9 / (frames * HOP / 16000), rel=1e-12)
    assert rec.params == sum(p.numel() for p in TinyUpsampler().parameters())
    assert rec.params_without_wn_gains == rec.params - 8  # one gain per output channel of the weight-normed conv
    assert len(rec.times_s) == 2 and rec.rtf_median > 0 and rec.rtf_iqr >= 0
    assert rec.energy_method == "estimated:power x time"
    assert rec.e_gen_j_per_100_audio_s == pytest.approx(rec.e_gen_j_per_audio_s * 100)
    assert rec.e_gen_j_per_audio_s == pytest.approx(rec.energy_j_per_run / rec.audio_s_per_run)
    assert rec.environment["packages"]["torch"] and rec.environment["host_type"]


def test_bring_your_own_callable():
    def fn(mel):
        return mel.mean(1).repeat_interleave(HOP, dim=-1)

    rec = benchmark_model(fn, name="lambda", hop_length=HOP, sample_rate=22050, protocol=TINY, **EST)
    assert rec.ok and rec.params is None and rec.sample_rate == 22050 and rec.gflops_per_audio_s == 0.0


def test_vocoder_procedure_recorded_and_counted():
    model = TinyDiffusion()
    two = benchmark_model(model, name="tiny", protocol=TINY, **EST)
    four = benchmark_model(model, name="tiny", protocol=TINY, procedure={"steps": 4}, **EST)
    assert two.procedure == {"steps": 2} and four.procedure == {"steps": 4}
    assert two.family == "diffusion" and two.hop_length == HOP
    assert four.gflops_per_audio_s == pytest.approx(2 * two.gflops_per_audio_s)
    assert model.net.pre.parametrizations  # prepare=True worked on a copy, the user's model is untouched
    model.net.pre(torch.randn(1, 80, 4))  # and still works
    with pytest.raises(ValueError, match="unknown procedure"):
        benchmark_model(model, name="tiny", protocol=TINY, procedure={"sigma": 1.0}, **EST)


def test_bfloat16_precision():
    rec = benchmark_model(TinyUpsampler(), name="bf16", hop_length=HOP, sample_rate=16000,
                          protocol=TINY.replace(precision="bfloat16", threads=1), **EST)
    assert rec.precision == "bfloat16" and rec.ok


@pytest.mark.parametrize(
    "model,match",
    [
        (lambda mel: torch.zeros(mel.shape[0], mel.shape[-1] * HOP - 1), "shape"),
        (lambda mel: torch.full((mel.shape[0], mel.shape[-1] * HOP), float("nan")), "NaN"),
        (lambda mel: [0.0], "expected a tensor"),
        (42, "callable"),
    ],
)
def test_bad_models_raise(model, match):
    with pytest.raises(ValueError, match=match):
        benchmark_model(model, name="bad", hop_length=HOP, sample_rate=16000, protocol=TINY, **EST)


def test_bad_inputs_raise():
    ok = TinyUpsampler()
    with pytest.raises(ValueError, match="device"):
        benchmark_model(ok, name="x", hop_length=HOP, sample_rate=16000, protocol=TINY, device="tpu", **EST)
    with pytest.raises(ValueError, match="hop_length"):
        benchmark_model(ok, name="x", sample_rate=16000, protocol=TINY, **EST)
    with pytest.raises(ValueError, match="contradicts"):
        benchmark_model(TinyDiffusion(), name="x", hop_length=256, protocol=TINY, **EST)
    with pytest.raises(ValueError, match="precision"):
        TINY.replace(precision="int3")


@pytest.mark.parametrize(
    "field,value",
    [("n_clips", 0), ("n_clips", -2), ("clip_duration_s", 0.0), ("clip_duration_s", -1.0),
     ("clip_duration_s", float("nan")), ("repeats", 0), ("warmup", -1), ("batch_size", 0), ("threads", 0),
     ("idle_window_s", -1.0), ("n_clips", 2.5)],
)
def test_protocol_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        Protocol(**{field: value})


def test_thesis_protocol_defaults():
    p = measure.THESIS_PROTOCOL
    assert (p.n_clips, p.clip_duration_s, p.sample_rate, p.audio_s_per_run) == (10, 10.0, 16000, 100.0)
    assert p.n_frames(256) == 625 and Protocol.from_dict(p.to_dict()) == p
    assert p.key() == p.replace(precision="float16").key() != p.replace(n_clips=3).key()


def test_timing_statistics():
    t = measure.compute_timing([1.0, 2.0, 3.0, 4.0, 100.0], audio_s=10.0)
    assert t.median_s == 3.0 and t.rtf_median == 0.3 and t.iqr_s == 2.0 and t.rtf_max == 10.0
    with pytest.raises(ValueError):
        measure.compute_timing([1.0], audio_s=0.0)


def test_detect_host_type_from_fake_trees(tmp_path):
    bare = tmp_path / "bare"
    (bare / "sys/class/dmi/id").mkdir(parents=True)
    (bare / "sys/class/dmi/id/sys_vendor").write_text("Dell Inc.\n")
    (bare / "proc").mkdir()
    (bare / "proc/cpuinfo").write_text("model name\t: Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz\nflags\t\t: fpu sse\n")
    (bare / "proc/1").mkdir()
    (bare / "proc/1/cgroup").write_text("0::/init.scope\n")
    assert host.detect_host_type(bare).kind == "bare metal"
    assert host.read_cpu_model(bare) == "Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz"

    vm = tmp_path / "vm"
    (vm / "sys/class/dmi/id").mkdir(parents=True)
    (vm / "sys/class/dmi/id/sys_vendor").write_text("QEMU\n")
    assert host.detect_host_type(vm).kind == "virtual machine"

    box = tmp_path / "box"
    (box / "proc/1").mkdir(parents=True)
    (box / "proc/1/cgroup").write_text("12:pids:/docker/abc\n")
    (box / "proc/cpuinfo").write_text("flags\t: fpu hypervisor\n")
    found = host.detect_host_type(box)
    assert found.kind == "container in virtual machine" and found.containerised and found.virtualised
    assert host.detect_host_type(tmp_path / "empty").kind == "unknown"


def test_cli_bench_with_a_registered_model(tmp_path, capsys, monkeypatch):
    """The CLI end to end, with the registry's loader replaced by a tiny model (the zoo is tested elsewhere)."""
    from greenaudio import cli, vocoders

    monkeypatch.setattr(vocoders, "load", lambda name, size="medium", **kw: TinyDiffusion())
    store = tmp_path / "b.sqlite"
    argv = ["bench", "--models", "hifigan", "--sizes", "small", "--clips", "1", "--duration", "0.25", "--repeats",
            "1", "--warmup", "0", "--threads", "1", "--store", str(store), "--csv", str(tmp_path / "b.csv"),
            "--energy", "estimated", "--hardware", "Xeon Gold 5220R", "--no-progress", "--procedure", "steps=3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "hifigan" in out and "estimated:power x time" in out and "1 cell(s) computed" in out
    assert cli.main(argv) == 0
    assert "0 cell(s) computed" in capsys.readouterr().out
    (rec,) = measure.load_records(tmp_path / "b.csv")
    assert rec.procedure == {"steps": 3} and rec.model == "hifigan" and rec.times_s and rec.ok
    assert cli.main(["bench", "--models", "nope", "--store", str(store)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert cli.main(["bench", "--models", "hifigan", "--duration", "-1", "--store", str(store)]) == 2
    assert "clip_duration_s" in capsys.readouterr().err
