"""The comparison with the public reference implementations (``bench_inference.py --against-reference DIR``).

The real references are cloned by the user and never shipped; here stand-ins written for this test take their place:
a HiFi-GAN generator with the reference's interface (``models.Generator(h)``, ``remove_weight_norm()``, a sibling
``utils`` module imported by its top-level name), a DiffWave network (``forward(audio, diffusion_step, spectrogram)``)
and a WaveGlow with ``infer(spect, sigma)`` drawing its latent with ``torch.cuda.FloatTensor(...).normal_()``, as the
references do. The facts checked: our weights (and, for the iterative families, our noise) in them give our output
(relative L2 at float32 rounding), every path gets a timed row, a network that is not the same is refused before any
speed is compared, a configuration a reference hard-codes otherwise is refused naming both values, and bad input is
refused before any work, naming the bad value and the valid choices.

With ``GREENAUDIO_REFERENCE_DIR`` pointing at real clones (``diffwave/``, ``waveglow/``, ``WaveFlow/`` under
it) the iterative families are also checked against the real reference code; skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
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


#: A fake roof (a given 100 GFLOP/s) and FLOP count (0.5 GFLOP): the real ones are measured by the bench script.
_FAKE_WORK = dict(measure_roof=lambda: 100.0, count=lambda model, variant, frames: 0.5)


def test_our_weights_in_the_reference_give_our_output_and_every_path_is_timed(tmp_path):
    root = _stand_in(tmp_path)
    table = ref.compare_with_reference(root, ["hifigan"], ["small"], duration_s=0.1, repeats=2, backends=("torch",),
                                       weights="fresh", mel="random", log=lambda _: None, **_FAKE_WORK)
    assert list(table.path) == ["reference", "plain", "prepared-torch"]
    assert (table.output_rel_l2_vs_reference < 1e-5).all()  # float32 rounding of the same network
    assert (table.time_median_s > 0).all() and (table.repeats == 2).all()
    assert table.set_index("path").speedup_vs_reference["reference"] == 1.0
    assert table.set_index("path").speedup_vs_plain["plain"] == 1.0
    assert table.duration_s.iloc[0] == pytest.approx(6 / 62.5)  # 0.1 s is 6 mel frames of hop 256 at 16 kHz
    assert set(table.weights) == {"fresh"} and table.reference_commit.iloc[0] == ""  # not a git checkout
    assert (set(table.gflops), set(table.peak_gflops_per_s), set(table.roof_kernel)) == ({0.5}, {100.0}, {"given"})


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
                                   weights="fresh", mel="random", log=lambda _: None, **_FAKE_WORK)


def test_convolutions_that_differ_are_named():
    a = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 3), torch.nn.Conv1d(4, 2, 3))
    b = torch.nn.Sequential(torch.nn.Conv1d(4, 4, 3), torch.nn.Conv1d(4, 2, 5))
    with pytest.raises(ValueError, match=r"convolution 1 differs"):
        ref.copy_convolutions(a, b)
    assert ref.copy_convolutions(a, a) == 2


def test_bad_input_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"no reference adapter for 'wavenet'; adapters exist for hifigan, melgan, "
                                         r"diffwave, waveglow, waveflow$"):
        ref.check_reference_root(tmp_path, ["wavenet"])
    with pytest.raises(ValueError, match=r"no reference adapter for 'wavegrad' \(wavegrad: the reference "
                                         r"ivanvovk/WaveGrad has the paper's FiLM layout.*not the same network"):
        ref.check_reference_root(tmp_path, ["hifigan", "wavegrad"])
    with pytest.raises(FileNotFoundError, match=r"is not a folder"):
        ref.check_reference_root(tmp_path / "nowhere", ["hifigan"])
    with pytest.raises(FileNotFoundError, match=r"hifi-gan/models.py is missing \(git clone "
                                                r"https://github.com/jik876/hifi-gan"):
        ref.check_reference_root(tmp_path, ["hifigan"])
    with pytest.raises(FileNotFoundError, match=r"diffwave/src/diffwave/model.py is missing \(git clone "
                                                r"https://github.com/lmnt-com/diffwave"):
        ref.check_reference_root(tmp_path, ["diffwave"])


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
    assert "the diffwave reference is not under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--against-reference", str(tmp_path), "--rss"])
    assert "not with --rss" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--against-reference", str(tmp_path), "--ship", "--csv", str(tmp_path / "x.csv")])
    assert "give --ship or --csv, not both" in capsys.readouterr().err


@pytest.mark.slow  # measures the real compute roof (about 6 s)
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
    run = dict(duration_s=0.1, repeats=1, backends=(), weights="fresh", mel="random", log=lambda _: None, **_FAKE_WORK)
    assert set(ref.compare_with_reference(root, ["hifigan"], ["small"], **run).reference_commit) == {""}
    clone = root / "hifi-gan"
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "reference", cwd=clone)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    assert set(ref.compare_with_reference(root, ["hifigan"], ["small"], **run).reference_commit) == {head}


# -- the iterative families ------------------------------------------------------------------------------------------
# A DiffWave network written for this test from the paper's description (§3, Fig. 2): mel upsampled by two transposed
# 2-D convolutions of stride 16 (leaky ReLU 0.4), sinusoidal step table -> 512 -> 512 (SiLU), residual layers with a
# gated unit, skip sum scaled by 1/sqrt(layers). GATE is replaced to make a different network.
_DIFFWAVE = """
import math
import torch
import torch.nn.functional as F
from torch import nn


def gate(a, b):
    return {gate}


class Embedding(nn.Module):
    def __init__(self, steps):
        super().__init__()
        angles = torch.arange(steps)[:, None] * 10.0 ** (torch.arange(64)[None] * 4.0 / 63.0)
        self.register_buffer("embedding", torch.cat([angles.sin(), angles.cos()], 1), persistent=False)
        self.projection1, self.projection2 = nn.Linear(128, 512), nn.Linear(512, 512)

    def forward(self, step):
        return F.silu(self.projection2(F.silu(self.projection1(self.embedding[step]))))


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(1, 1, (3, 32), stride=(1, 16), padding=(1, 8))
        self.conv2 = nn.ConvTranspose2d(1, 1, (3, 32), stride=(1, 16), padding=(1, 8))

    def forward(self, mel):
        return F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(mel[:, None]), 0.4)), 0.4)[:, 0]


class Layer(nn.Module):
    def __init__(self, n_mels, c, dilation):
        super().__init__()
        self.dilated_conv = nn.Conv1d(c, 2 * c, 3, padding=dilation, dilation=dilation)
        self.diffusion_projection = nn.Linear(512, c)
        self.conditioner_projection = nn.Conv1d(n_mels, 2 * c, 1)
        self.output_projection = nn.Conv1d(c, 2 * c, 1)

    def forward(self, x, step, mel):
        y = self.dilated_conv(x + self.diffusion_projection(step)[..., None]) + self.conditioner_projection(mel)
        residual, skip = self.output_projection(gate(*y.chunk(2, 1))).chunk(2, 1)
        return (x + residual) / math.sqrt(2.0), skip


class DiffWave(nn.Module):
    def __init__(self, params):
        super().__init__()
        c = params.residual_channels
        self.input_projection = nn.Conv1d(1, c, 1)
        self.diffusion_embedding = Embedding(len(params.noise_schedule))
        self.spectrogram_upsampler = Upsampler()
        self.residual_layers = nn.ModuleList(Layer(params.n_mels, c, 2 ** (i % params.dilation_cycle_length))
                                             for i in range(params.residual_layers))
        self.skip_projection = nn.Conv1d(c, c, 1)
        self.output_projection = nn.Conv1d(c, 1, 1)

    def forward(self, audio, diffusion_step, spectrogram):
        x = F.relu(self.input_projection(audio[:, None]))
        step, mel = self.diffusion_embedding(diffusion_step), self.spectrogram_upsampler(spectrogram)
        skip = 0
        for layer in self.residual_layers:
            x, s = layer(x, step, mel)
            skip = skip + s
        return self.output_projection(F.relu(self.skip_projection(skip / math.sqrt(len(self.residual_layers)))))
"""

# A WaveGlow written for this test from the paper's description: the mel upsampled (1024-sample kernel, stride 256),
# squeezed into groups of 8, and the flows inverted from a latent drawn as the reference draws it (CUDA only).
_GLOW = """
import torch
import torch.nn.functional as F
from torch import nn


class Invertible1x1Conv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 1, bias=False)

    def forward(self, z, reverse=True):
        return F.conv1d(z, torch.linalg.inv(self.conv.weight[..., 0])[..., None])


class WN(nn.Module):
    def __init__(self, n_in, n_mel, n_layers, n_channels, kernel_size):
        super().__init__()
        self.c = n_channels
        self.start = nn.Conv1d(n_in, n_channels, 1)
        self.cond_layer = nn.Conv1d(n_mel, 2 * n_channels * n_layers, 1)
        self.in_layers = nn.ModuleList(nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=2 ** i,
                                                 padding=2 ** i * (kernel_size - 1) // 2) for i in range(n_layers))
        self.res_skip_layers = nn.ModuleList(nn.Conv1d(n_channels, n_channels * (2 if i < n_layers - 1 else 1), 1)
                                             for i in range(n_layers))
        self.end = nn.Conv1d(n_channels, 2 * n_in, 1)

    def forward(self, audio, spect):
        c, h, spect, out = self.c, self.start(audio), self.cond_layer(spect), 0
        for i, (conv, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            a = conv(h) + spect[:, 2 * c * i: 2 * c * (i + 1)]
            acts = res_skip(torch.tanh(a[:, :c]) * torch.sigmoid(a[:, c:]))
            h, out = (h + acts[:, :c], out + acts[:, c:]) if i < len(self.in_layers) - 1 else (h, out + acts)
        return self.end(out)


class WaveGlow(nn.Module):
    def __init__(self, n_mel, n_flows, n_group, n_early_every, n_early_size, WN_config):
        super().__init__()
        self.upsample = nn.ConvTranspose1d(n_mel, n_mel, 1024, stride=256)
        self.n_flows, self.n_group, self.every, self.n_early_size = n_flows, n_group, n_early_every, n_early_size
        self.WN, self.convinv, remaining = nn.ModuleList(), nn.ModuleList(), n_group
        for k in range(n_flows):
            remaining -= n_early_size if k % n_early_every == 0 and k > 0 else 0
            self.convinv.append(Invertible1x1Conv(remaining))
            self.WN.append(WN(remaining // 2, n_mel * n_group, **WN_config))
        self.n_remaining_channels = remaining

    def infer(self, spect, sigma=1.0):
        g, t = self.n_group, spect.shape[-1] * 256
        spect = self.upsample(spect)[:, :, :t]
        b, m, _ = spect.shape
        spect = spect.reshape(b, m, t // g, g).transpose(2, 3).reshape(b, m * g, t // g)
        audio = sigma * torch.cuda.FloatTensor(b, self.n_remaining_channels, t // g).normal_()
        for k in reversed(range(self.n_flows)):
            half = audio.shape[1] // 2
            out = self.WN[k](audio[:, :half], spect)
            audio = torch.cat([audio[:, :half], (audio[:, half:] - out[:, :half]) / torch.exp(out[:, half:])], 1)
            audio = self.convinv[k](audio, reverse=True)
            if k % self.every == 0 and k > 0:
                audio = torch.cat([sigma * torch.cuda.FloatTensor(b, self.n_early_size, t // g).normal_(), audio], 1)
        return audio.transpose(1, 2).reshape(b, -1)

    @staticmethod
    def remove_weightnorm(model):
        return model
"""


def _diffwave_stand_in(root: Path, gate: str = "torch.sigmoid(a) * torch.tanh(b)") -> Path:
    package = root / "diffwave" / "src" / "diffwave"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(_DIFFWAVE.format(gate=gate))
    return root


def _glow_stand_in(root: Path) -> Path:
    (root / "waveglow").mkdir(parents=True)
    (root / "waveglow" / "glow.py").write_text(_GLOW)
    return root


def _with_zero_layers_filled(model, std: float = 0.02):
    """``model`` with its zero-initialised layers (the flows' last convolutions, DiffWave's output projection: each
    makes its network a no-op when fresh) given small random weights, so that the output depends on every layer."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def _ours_and_reference(root: Path, name: str, size: str, frames: int = 6):
    """Our plain output and the reference's, same weights, mel and noise seed, ``(1, frames * 256)`` each."""
    from greenaudio import vocoders

    model = _with_zero_layers_filled(vocoders.load(name, size).eval())
    mel = torch.rand(1, 80, frames, generator=torch.Generator().manual_seed(2))
    ours = model.generate(mel, generator=torch.Generator().manual_seed(ref.NOISE_SEED)).audio
    with torch.no_grad():
        theirs = ref.build_reference(root, model)(mel).squeeze(1)
    return ours, theirs


def test_the_diffwave_network_in_our_reverse_loop_gives_our_output(tmp_path):
    ours, theirs = _ours_and_reference(_diffwave_stand_in(tmp_path), "diffwave", "small")
    assert ours.shape == theirs.shape == (1, 6 * 256)
    assert ref._rel_l2(ours, theirs) < 1e-5 and ours.std() > 0.01


def test_a_different_diffwave_network_is_refused_with_trained_weights(tmp_path):
    """Trained weights (the zoo's diffwave small): a fresh model's zero output projection would hide the network."""
    run = dict(duration_s=0.1, repeats=1, backends=(), weights="trained", mel="speech", log=lambda _: None,
               **_FAKE_WORK)
    table = ref.compare_with_reference(_diffwave_stand_in(tmp_path / "same"), ["diffwave"], ["small"], **run)
    assert set(table.weights) == {"trained"} and table.output_rel_l2_vs_reference.max() < 1e-5
    swapped = _diffwave_stand_in(tmp_path / "swapped", gate="torch.tanh(a) * torch.sigmoid(b)")
    with pytest.raises(RuntimeError, match=r"diffwave small: our plain output differs from the reference's"):
        ref.compare_with_reference(swapped, ["diffwave"], ["small"], **run)


def test_the_waveglow_inference_with_its_cuda_draws_answered_by_our_latent_gives_our_output(tmp_path):
    ours, theirs = _ours_and_reference(_glow_stand_in(tmp_path), "waveglow", "small")
    assert ref._rel_l2(ours, theirs) < 1e-5 and ours.std() > 0.01


def test_the_waveglow_module_gets_torch_back_after_a_call(tmp_path):
    from greenaudio import vocoders

    sampler = ref.build_reference(_glow_stand_in(tmp_path), vocoders.load("waveglow", "small").eval())
    with torch.no_grad():
        sampler(torch.rand(1, 80, 2))
    assert sampler.code.torch is torch


@pytest.mark.parametrize("name, config, message", [
    ("diffwave", {"step_hidden_dim": 256}, r"the DiffWave reference has step_hidden_dim=512 fixed, this "
                                           r"configuration 256"),
    ("waveglow", {"upsample_kernel": 512}, r"the WaveGlow reference has upsample_kernel=1024 fixed, this "
                                           r"configuration 512"),
    ("waveflow", {"dilation_h_cycle": 2}, r"the WaveFlow reference has dilation_h_cycle=1 fixed, this "
                                          r"configuration 2")])
def test_a_configuration_the_reference_hard_codes_otherwise_is_refused_naming_both(tmp_path, name, config, message):
    from greenaudio import vocoders

    model = vocoders.build(vocoders.config_for(name, "small").replace(**config))
    with pytest.raises(ValueError, match=message):
        ref.build_reference(tmp_path, model)  # before the reference is imported: nothing under tmp_path


def test_layers_are_copied_by_name_and_every_mismatch_is_named():
    conv = lambda k, **kw: torch.nn.Conv1d(4, 4, k, **kw)  # noqa: E731
    ours = torch.nn.Sequential(conv(3), torch.nn.Linear(4, 2))
    theirs = torch.nn.Sequential(conv(3), torch.nn.Linear(4, 2))
    pairs = [("conv", ours[0], theirs[0]), ("linear", ours[1], theirs[1])]
    assert ref.copy_layers(pairs, ours, theirs) == (4 * 4 * 3 + 4) + (4 * 2 + 2)
    assert torch.equal(theirs[1].weight, ours[1].weight) and torch.equal(theirs[0].bias, ours[0].bias)
    with pytest.raises(ValueError, match=r"conv differs: ours Conv1d\(4, 4, kernel_size=\(3,\)"):
        ref.copy_layers([("conv", ours[0], conv(5))], ours, theirs)
    with pytest.raises(ValueError, match=r"the reference's 1.weight \(2, 4\) has no counterpart in ours"):
        ref.copy_layers([("conv", ours[0], theirs[0])], ours, theirs)
    with pytest.raises(ValueError, match=r"the reference has 52 parameters, ours 62"):
        ref.copy_layers([("conv", ours[0], theirs[0])], ours, theirs[0])
    padded = conv(3, padding=1)
    with pytest.raises(ValueError, match=r"conv differs"):
        ref.copy_layers([("conv", ours[0], padded)], ours[0], padded)
    assert ref.copy_layers([("conv", ours[0], padded, ("padding",))], ours[0], padded) == 52


_CLONES = os.environ.get("GREENAUDIO_REFERENCE_DIR")


@pytest.mark.skipif(not _CLONES, reason="GREENAUDIO_REFERENCE_DIR (real reference clones) not set")
@pytest.mark.parametrize("name, size", [("diffwave", "small"), ("waveglow", "small"), ("waveflow", "small")])
def test_the_real_references_with_our_weights_and_noise_give_our_output(name, size):
    ours, theirs = _ours_and_reference(Path(_CLONES), name, size)
    assert ref._rel_l2(ours, theirs) < 1e-4 and ours.std() > 0.01
