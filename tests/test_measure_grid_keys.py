"""The store never answers with a stale cell; configuration errors are rejected before any cell runs; the caller's
model is never changed; NaN in any timed run is caught; the CLI's exit status says whether a cell failed."""

import sqlite3

import pytest
import torch
from torch import nn

torch.set_num_threads(1)

from greenaudio import cli, measure  # noqa: E402
from greenaudio.measure import Protocol, benchmark_model  # noqa: E402
from greenaudio.orchestration.bench import run_bench_grid  # noqa: E402
from greenaudio.vocoders.base import Vocoder, VocoderConfig  # noqa: E402

HOP = 64
TINY = Protocol(n_clips=1, clip_duration_s=0.1, repeats=2, warmup=0, flop_clip_s=0.1, idle_window_s=0, threads=1)


class Tiny(Vocoder):
    family = "gan"

    def __init__(self, config=VocoderConfig(model="tiny", size="custom", hop_length=HOP)):
        super().__init__(config)
        self.up = nn.ConvTranspose1d(80, 1, HOP, stride=HOP)

    def default_procedure(self):
        return {"gain": 1.0}

    def _generate(self, mel, *, generator=None, gain=1.0):
        return gain * torch.tanh(self.up(mel)).squeeze(1)


def factory(name, size):
    if name == "broken":
        raise RuntimeError("this model cannot be built")
    return Tiny()


def grid(path, **kw):
    kw = {"protocol": TINY, "with_flops": False, "progress": False, "factory": factory} | kw
    return run_bench_grid(kw.pop("models", ["tiny"]), kw.pop("sizes", ["small"]), store=path, **kw)


def test_another_procedure_or_power_setting_is_another_cell(tmp_path):
    path = tmp_path / "s.sqlite"
    first = grid(path)
    assert len(first.computed) == 1
    assert len(grid(path).skipped) == 1  # same settings: answered from the store
    steps = grid(path, procedure={"gain": 0.5})
    assert len(steps.computed) == 1 and steps.records[0].procedure == {"gain": 0.5}
    hw = grid(path, energy_mode="estimated", hardware="EPYC 7763")
    assert len(hw.computed) == 1 and hw.records[0].energy_method == "estimated:power x time"
    threads = grid(path, protocol=TINY.replace(threads=2))
    assert len(threads.computed) == 1
    with measure.ResultStore(path) as store:
        recs = store.records()
    assert len(recs) == 4  # four distinct cells, none overwritten
    assert len({r.procedure_key for r in recs}) == 2 and len({r.energy_key for r in recs}) == 2
    assert len({r.env_key for r in recs}) == 2
    assert first.records[0].energy_method == measure.METHOD_CODECARBON  # the CPU and RAM rules


@pytest.mark.parametrize("kwargs, match", [
    ({"hardware": "nope"}, "unknown hardware 'nope'"),
    ({"procedure": {"steps": 6}}, r"unknown procedure argument\(s\) \['steps'\]"),
    ({"energy_mode": "sometimes"}, "choose one of"),
    ({"utilisation": 1.5}, "utilisation"),
    ({"precisions": ["float8"]}, "unknown precision"),
    ({"devices": ["tpu"]}, "device"),
])
def test_configuration_errors_are_rejected_before_any_cell_and_never_stored(tmp_path, kwargs, match):
    path = tmp_path / "sub" / "s.sqlite"
    with pytest.raises(ValueError, match=match):
        grid(path, **kwargs)
    assert not path.exists() and not path.parent.exists()


def test_unknown_models_and_sizes_list_the_valid_ones(tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(ValueError, match=r"unknown model 'nope'; valid models: \['melgan', 'hifigan'"):
        run_bench_grid(["nope"], ["small"], store=path, progress=False)
    with pytest.raises(ValueError, match=r"unknown size 'Small' .* valid sizes: \['large', 'medium', 'small'\]"):
        run_bench_grid(["melgan"], ["Small"], store=path, progress=False)
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        run_bench_grid(["melgan"], ["huge"], store=path, progress=False)
    assert not path.exists()


def test_failed_cell_is_retried_when_the_code_changes(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    first = grid(path, models=["broken"])
    assert first.failed and first.records[0].error == "RuntimeError: this model cannot be built"
    assert grid(path, models=["broken"]).skipped  # same code: the failure stands
    monkeypatch.setattr(measure.bench, "code_version", lambda: "greenaudio 9.9 (another commit)")
    again = grid(path, models=["broken"])
    assert len(again.computed) == 1 and again.records[0].code_version == "greenaudio 9.9 (another commit)"


def test_a_file_that_is_not_sqlite_is_named_and_left_untouched(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"my precious notes\n")
    with pytest.raises(ValueError, match="notes.sqlite' exists but is not a SQLite database"):
        grid(path)
    assert path.read_bytes() == b"my precious notes\n"


def test_benchmark_model_leaves_the_callers_model_alone():
    model = Tiny().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rec = benchmark_model(model, name="tiny", protocol=TINY.replace(precision="bfloat16"), with_flops=False)
    assert rec.ok and rec.precision == "bfloat16"
    assert model.training  # still in training mode
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    out = model.generate(torch.zeros(1, 80, 3))  # float32 input still works
    assert out.audio.dtype == torch.float32
    module = nn.Sequential(nn.ConvTranspose1d(80, 1, HOP, stride=HOP), nn.Flatten(1)).train()
    benchmark_model(module, name="mod", hop_length=HOP, sample_rate=16000, protocol=TINY.replace(precision="bfloat16"),
                    with_flops=False)
    assert module.training and next(module.parameters()).dtype == torch.float32


class NanAfter(nn.Module):
    """Finite for the first ``good`` calls, NaN afterwards (a model that diverges after validation)."""

    def __init__(self, good):
        super().__init__()
        self.good, self.calls = good, 0
        self.up = nn.ConvTranspose1d(80, 1, HOP, stride=HOP)

    def forward(self, mel):
        self.calls += 1
        out = self.up(mel).squeeze(1)
        return out if self.calls <= self.good else out * float("nan")


@pytest.mark.parametrize("good", [1, 2])  # NaN in the first or the second timed run (after the validation pass)
def test_nan_in_any_timed_run_is_caught(good):
    model = NanAfter(good)
    with pytest.raises(ValueError, match=r"returned \d+ NaN or inf sample"):
        benchmark_model(model, name="nan", hop_length=HOP, sample_rate=16000, protocol=TINY, with_flops=False)


def test_cli_exit_status_and_list(tmp_path, monkeypatch, capsys):
    from greenaudio import vocoders

    monkeypatch.setattr(vocoders, "load", lambda name, size: (_ for _ in ()).throw(RuntimeError("boom")))
    path = tmp_path / "s.sqlite"
    argv = ["bench", "--models", "melgan", "--sizes", "small", "--quick", "--no-flops", "--no-progress",
            "--store", str(path)]
    assert cli.main(argv) == 1  # the only requested cell failed
    assert "1 of 1 requested cell(s) failed" in capsys.readouterr().err
    assert cli.main(argv) == 1  # still failed when answered from the store
    capsys.readouterr()
    assert cli.main(["bench", "--store", str(path), "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split("\t")[:3] == ["model", "size", "device"]
    assert listing[1].split("\t")[9] == "failed"
    assert cli.main(["bench", "--models", "nope", "--store", str(tmp_path / "new.sqlite")]) == 2
    assert not (tmp_path / "new.sqlite").exists()
    assert cli.main(["bench", "--store", str(tmp_path / "absent.sqlite"), "--list"]) == 1
    assert not (tmp_path / "absent.sqlite").exists()
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM cells_v2").fetchone()[0] == 1
