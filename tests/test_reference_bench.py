"""The comparison with the public reference implementations (``bench_inference.py --against-reference DIR``).

The real references are cloned by the user and never shipped; here a stand-in written for this test takes their place:
a HiFi-GAN generator with the reference's interface (``models.Generator(h)``, ``remove_weight_norm()``, a sibling
``utils`` module imported by its top-level name). The facts checked: our weights copied into it give our output
(relative L2 at float32 rounding), every path gets a timed row, a network that is not the same is refused before any
speed is compared, and bad input is refused before any work, naming the bad value and the valid choices.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from greenaudio.orchestration import reference_bench as ref

_UTILS = """
def get_padding(kernel_size, dilation=1):
    return (kernel_size * dilation - dilation) // 2
"""

# A HiFi-GAN generator written for this test from the paper's description (V1-V3): conv_pre, transposed convolutions,
# multi-receptive-field residual blocks averaged, conv_post, tanh. SLOPE is replaced to make a different network.
_MODELS = """
import torch
import torch.nn.functional as F
from torch import nn
from utils import get_padding

SLOPE = {slope}
wn = nn.utils.weight_norm


class Block1(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(wn(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=get_padding(k, d)))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(wn(nn.Conv1d(ch, ch, k, 1, padding=get_padding(k))) for _ in dilations)

    def forward(self, x):
        for a, b in zip(self.convs1, self.convs2):
            x = x + b(F.leaky_relu(a(F.leaky_relu(x, SLOPE)), SLOPE))
        return x


class Block2(nn.Module):
    def __init__(self, ch, k, dilations):
        super().__init__()
        self.convs = nn.ModuleList(wn(nn.Conv1d(ch, ch, k, 1, dilation=d, padding=get_padding(k, d)))
                                   for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, SLOPE))
        return x


class Generator(nn.Module):
    def __init__(self, h):
        super().__init__()
        block = Block1 if h.resblock == "1" else Block2
        ch = h.upsample_initial_channel
        self.conv_pre = wn(nn.Conv1d(80, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        self.n = len(h.resblock_kernel_sizes)
        for i, (r, k) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes)):
            self.ups.append(wn(nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, r, padding=(k - r) // 2)))
        for i in range(len(self.ups)):
            for k, d in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes):
                self.resblocks.append(block(ch // 2 ** (i + 1), k, d))
        self.conv_post = wn(nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, 1, padding=3))

    def forward(self, x):
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, SLOPE))
            x = sum(self.resblocks[i * self.n + j](x) for j in range(self.n)) / self.n
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def remove_weight_norm(self):
        for m in self.modules():
            if hasattr(m, "weight_g"):
                nn.utils.remove_weight_norm(m)
"""


def _stand_in(root: Path, slope: float = 0.1) -> Path:
    folder = root / "hifi-gan"
    folder.mkdir(parents=True)
    (folder / "utils.py").write_text(_UTILS)
    (folder / "models.py").write_text(_MODELS.format(slope=slope))
    return root


def test_our_weights_in_the_reference_give_our_output_and_every_path_is_timed(tmp_path):
    root = _stand_in(tmp_path)
    table = ref.compare_with_reference(root, ["hifigan"], ["small"], duration_s=0.1, repeats=2, backends=("torch",),
                                       weights="fresh", mel="random", log=lambda _: None)
    assert list(table.path) == ["reference", "plain", "prepared-torch"]
    assert (table.output_rel_l2_vs_reference < 1e-5).all()  # float32 rounding of the same network
    assert (table.time_median_s > 0).all() and (table.repeats == 2).all()
    assert table.set_index("path").speedup_vs_reference["reference"] == 1.0
    assert table.set_index("path").speedup_vs_plain["plain"] == 1.0
    assert table.duration_s.iloc[0] == pytest.approx(6 / 62.5)  # 0.1 s is 6 mel frames of hop 256 at 16 kHz
    assert set(table.weights) == {"fresh"} and table.reference_commit.iloc[0] == ""  # not a git checkout


def test_the_reference_is_imported_from_its_own_folder_and_leaves_ours_alone(tmp_path):
    """Its ``utils``/``models`` names are not left in sys.modules, and a module of that name already there is kept."""
    root = _stand_in(tmp_path)
    ours = types.ModuleType("utils")
    sys.modules["utils"] = ours
    try:
        entry = ref.REFERENCES["hifigan"]
        from greenaudio import vocoders

        generator = ref.build_reference(root, vocoders.load("hifigan", "small").eval())
        assert type(generator).__name__ == "Generator" and entry.folder == "hifi-gan"
        assert sys.modules["utils"] is ours and "models" not in sys.modules
    finally:
        del sys.modules["utils"]


def test_a_different_network_is_refused_before_any_speed_is_compared(tmp_path):
    root = _stand_in(tmp_path, slope=0.2)  # same convolutions, another activation
    with pytest.raises(RuntimeError, match=r"hifigan small: our plain output differs from the reference's"):
        ref.compare_with_reference(root, ["hifigan"], ["small"], duration_s=0.1, repeats=1, backends=(),
                                   weights="fresh", mel="random", log=lambda _: None)


def test_convolutions_that_differ_are_named():
    a = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 3), torch.nn.Conv1d(4, 2, 3))
    b = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 3), torch.nn.Conv1d(4, 2, 5))
    with pytest.raises(ValueError, match=r"convolution 1 differs"):
        ref.copy_convolutions(a, b)
    assert ref.copy_convolutions(a, a) == 2


def test_bad_input_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"no reference adapter for 'waveglow'; adapters exist for hifigan, melgan"):
        ref.check_reference_root(tmp_path, ["waveglow"])
    with pytest.raises(FileNotFoundError, match=r"is not a folder"):
        ref.check_reference_root(tmp_path / "nowhere", ["hifigan"])
    with pytest.raises(FileNotFoundError, match=r"hifi-gan/models.py is missing \(git clone "
                                                r"https://github.com/jik876/hifi-gan"):
        ref.check_reference_root(tmp_path, ["hifigan"])


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_inference.py"
    spec = importlib.util.spec_from_file_location("bench_inference_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_names_the_bad_value_and_exits_2(tmp_path, capsys):
    script = _script()
    with pytest.raises(SystemExit) as stop:
        script.main(["--against-reference", str(tmp_path), "--models", "diffwave"])
    assert stop.value.code == 2
    assert "no reference adapter for 'diffwave'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--against-reference", str(tmp_path), "--rss"])
    assert "not with --rss" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--against-reference", str(tmp_path), "--ship", "--csv", str(tmp_path / "x.csv")])
    assert "give --ship or --csv, not both" in capsys.readouterr().err


def test_the_script_merges_its_table_into_a_csv(tmp_path, capsys):
    root = _stand_in(tmp_path / "refs")
    out = tmp_path / "against.csv"
    out.write_text("model,size,duration_s,path,time_median_s\nmelgan,small,0.096,reference,1.0\n")
    script = _script()
    assert script.main(["--against-reference", str(root), "--models", "hifigan", "--sizes", "small",
                        "--durations", "0.1", "--repeats", "1", "--backends", "torch"]) == 0
    assert script.main(["--against-reference", str(root), "--models", "hifigan", "--sizes", "small",
                        "--durations", "0.1", "--repeats", "1", "--backends", "torch", "--csv", str(out)]) == 0
    import pandas as pd

    merged = pd.read_csv(out)
    assert list(merged.path) == ["reference", "reference", "plain", "prepared-torch"]  # the melgan row kept
    assert merged.command.iloc[1].startswith("python scripts/bench_inference.py --against-reference")


def test_the_commit_recorded_is_the_clones_own_never_that_of_a_repository_around_it(tmp_path):
    import subprocess

    def git(*args, cwd):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                       capture_output=True)

    outer = tmp_path / "outer"
    root = _stand_in(outer / "refs")
    git("init", "-q", cwd=outer)
    git("add", "-A", cwd=outer)
    git("commit", "-q", "-m", "outer", cwd=outer)
    run = dict(duration_s=0.1, repeats=1, backends=(), weights="fresh", mel="random", log=lambda _: None)
    assert set(ref.compare_with_reference(root, ["hifigan"], ["small"], **run).reference_commit) == {""}
    clone = root / "hifi-gan"
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "reference", cwd=clone)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    assert set(ref.compare_with_reference(root, ["hifigan"], ["small"], **run).reference_commit) == {head}
