"""Our inference paths timed against the public reference implementations, with the reference code fetched by the user.

``scripts/bench_inference.py --against-reference DIR`` builds, for each configuration, the reference model from the
code the user cloned under ``DIR`` (nothing of it is copied into greenaudio: it is imported from that folder at run
time), copies our weights into it layer by layer (weight norm folded on both sides), checks that both give the same
output on the same mel, and times the reference, our plain path and our prepared paths interleaved in one process.

Five families have an adapter (:data:`REFERENCES`; its ``how_it_runs`` says how). The GANs' references (HiFi-GAN,
MelGAN) are pure functions of the mel. The diffusion and flow references draw their noise inside, so their adapters
hold it equal to ours: (a) the reference's own sampler runs with its draws made ours (WaveGlow: its CUDA-only draw
answered with our latent), or (b) the reference's network runs in a reverse loop written here with our schedule,
latent and noise (DiffWave, WaveFlow). Where a reference hard-codes something our configuration differs in, the
adapter refuses it, naming both. WaveGrad has none (:data:`NOT_THE_SAME_NETWORK`): the reference (ivanvovk/WaveGrad)
has the paper's FiLM layout and upsamples linearly, our presets have the thesis code's layout and repeat samples.

The reference code is imported and run: point ``DIR`` only at clones you trust, as you would before running them.

Used by: scripts/bench_inference.py (``--against-reference``), tests/test_reference_bench.py (with stand-in references
written by the test).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..host import read_git_commit
from ..vocoders.base import remove_all_weight_norms
from ..vocoders.diffusion_common import RowNoise
from ..vocoders.flow_common import draw_latent

__all__ = ["ReferenceImplementation", "REFERENCES", "check_reference_root", "build_reference", "compare_with_reference",
           "COLUMNS", "row_key"]

COLUMNS = ["model", "size", "duration_s", "path", "time_median_s", "time_min_s", "speedup_vs_reference",
           "speedup_vs_plain", "output_rel_l2_vs_reference", "gflops", "peak_gflops_per_s", "roof_kernel", "repeats",
           "threads", "weights", "mel", "reference", "reference_commit", "device", "torch_version",
           "onnxruntime_version", "date_utc", "command"]


def row_key(row) -> tuple:
    """A row's key in a comparison file: model, size, seconds of audio (to 1 ms) and path."""
    return row["model"], row["size"], f"{float(row['duration_s']):.3f}", row["path"]


#: Largest relative L2 difference between our plain output and the reference's that counts as the same model (fp32).
SAME_OUTPUT_REL_L2 = 1e-3


@dataclass(frozen=True)
class ReferenceImplementation:
    """Where a family's reference lives and how to build its generator for one of our configurations.

    ``folder`` is the checkout's name under the folder given on the command line; ``files`` the files of it that are
    imported (checked before any work); ``build(folder, model)`` returns the reference model, weight norm removed,
    our weights copied in, in eval mode, as a module mapping ``mel (B, n_mels, F)`` to ``audio (B, 1, T)``: the
    reference generator itself (GANs), or a module running the reference's sampler or network with our noise
    (diffusion and flows, seeded as ``inference_bench.generate`` seeds ours). ``how_it_runs`` says how, and for the
    iterative families whether (a) the reference's own sampler or (b) a loop written here drives its network.
    """

    model: str
    repository: str
    folder: str
    files: tuple[str, ...]
    build: Callable[[Path, nn.Module], nn.Module]
    how_it_runs: str


def _import_from(folder: Path, module: str) -> ModuleType:
    """``module`` imported from ``folder`` alone: top-level names the folder defines (``models``, ``utils``, ...,
    namespace packages included) are lifted out of ``sys.modules`` for the import and put back afterwards, so two
    references (or our own modules) with the same names never see each other's."""
    own = {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.iterdir() if p.is_dir() and ((p / "__init__.py").exists() or any(p.glob("*.py")))}
    clashing = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in own}
    sys.path.insert(0, str(folder))
    try:
        imported = importlib.import_module(module)
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k.split(".")[0] in own]:
            del sys.modules[k]
        sys.modules.update(clashing)
    return imported


# -- weights ---------------------------------------------------------------------------------------------------------
#: Layer kinds whose weights are copied, most specific first (a parametrised module's class is a subclass made at
#: run time, so a layer's kind is the first of these it is an instance of).
_LAYER_KINDS = (nn.ConvTranspose2d, nn.ConvTranspose1d, nn.Conv2d, nn.Conv1d, nn.Linear)
_GEOMETRY = ("stride", "padding", "dilation", "groups", "output_padding")


def _kind(layer: nn.Module) -> type:
    """The layer's kind in :data:`_LAYER_KINDS` (its own class if none)."""
    return next((k for k in _LAYER_KINDS if isinstance(layer, k)), type(layer))


def _differs(ours: nn.Module, theirs: nn.Module, ignore: tuple[str, ...] = ()) -> bool:
    """Whether two layers differ in kind, weight shape, bias or geometry (``ignore``: attributes not compared)."""
    return (_kind(ours) is not _kind(theirs) or ours.weight.shape != theirs.weight.shape
            or (ours.bias is None) != (theirs.bias is None)
            or any(getattr(ours, k, None) != getattr(theirs, k, None) for k in _GEOMETRY if k not in ignore))


def _convolutions(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]


def copy_convolutions(source: nn.Module, target: nn.Module) -> int:
    """Copy the (weight-norm folded) weights and biases of ``source``'s convolutions into ``target``'s, pairing them
    in module order (:func:`copy_layers` with pairs named ``convolution i``); returns how many. Raises ``ValueError``
    naming the first pair that differs in kind, shape, stride, padding or dilation: then the two are not the same
    network."""
    ours, theirs = _convolutions(source), _convolutions(target)
    if len(ours) != len(theirs):
        raise ValueError(f"the reference has {len(theirs)} convolutions, ours {len(ours)}: not the same network")
    copy_layers([(f"convolution {i}", a, b) for i, (a, b) in enumerate(zip(ours, theirs))], source, target)
    return len(ours)


#: A layer pair: our name for it, our layer (or a bare weight tensor), the reference's layer, and optionally the
#: geometry attributes not compared (where the two reach the same result by different padding).
LayerPair = tuple


def _folded_parameter_count(module: nn.Module) -> int:
    """Parameters of ``module`` with every weight norm folded (its gains ``g`` not counted)."""
    return sum(p.numel() for name, p in module.named_parameters()
               if not name.endswith(("parametrizations.weight.original0", "weight_g")))


def copy_layers(pairs: list[LayerPair], source: nn.Module, target: nn.Module) -> int:
    """Copy each pair's (weight-norm folded) weight and bias from ``source``'s layer into the reference's (a bare
    weight tensor: the reference layer has no bias); returns the number of values copied.

    Raises ``ValueError`` naming the first pair that differs in kind, shape or geometry, the first parameter of
    ``target`` no pair wrote, or a copied count other than ``source``'s parameter count (weight norm folded): then
    the two are not the same network.
    """
    written, copied = set(), 0
    for name, ours, theirs, *ignore in pairs:
        if isinstance(ours, torch.Tensor):  # a bare weight, e.g. a channel-mixing matrix as a 1x1 convolution's
            tensors = [(ours, theirs.weight)]
            differs, shown = ours.shape != theirs.weight.shape or theirs.bias is not None, tuple(ours.shape)
        else:
            tensors = [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]
            differs, shown = _differs(ours, theirs, *ignore), ours
        if differs:
            raise ValueError(f"{name} differs: ours {shown}, the reference's {theirs}")
        with torch.no_grad():
            for a, b in tensors:
                if a is not None:
                    b.copy_(a.detach())
                    written.add(id(b))
                    copied += b.numel()
    missing = [(n, p) for n, p in target.named_parameters() if id(p) not in written]
    if missing:
        raise ValueError(f"the reference's {missing[0][0]} {tuple(missing[0][1].shape)} has no counterpart in ours: "
                         "not the same network")
    if copied != _folded_parameter_count(source):
        raise ValueError(f"the reference has {copied} parameters, ours {_folded_parameter_count(source)} (weight "
                         "norm folded): not the same network")
    return copied


def _named_pairs(prefix: str, ours: nn.Module, theirs: nn.Module, names: dict[str, str]) -> list[LayerPair]:
    """``(prefix.ours_name, ours.ours_name, theirs.theirs_name)`` for each ``ours_name -> theirs_name`` (dotted)."""
    def get(module, dotted):
        for part in dotted.split("."):
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        return module

    return [(f"{prefix}{a}", get(ours, a), get(theirs, b)) for a, b in names.items()]


def _refuse_fixed(family: str, config, fixed: dict[str, object]) -> None:
    """``ValueError`` naming the first field of ``config`` that differs from what the reference hard-codes."""
    for field, value in fixed.items():
        if getattr(config, field) != value:
            raise ValueError(f"the {family} reference has {field}={value!r} fixed, this configuration "
                             f"{getattr(config, field)!r}")


# -- the GANs --------------------------------------------------------------------------------------------------------
def _hifigan_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    h = SimpleNamespace(resblock=c.resblock, upsample_rates=list(c.upsample_rates),
                        upsample_kernel_sizes=list(c.upsample_kernel_sizes),
                        upsample_initial_channel=c.upsample_initial_channel,
                        resblock_kernel_sizes=list(c.resblock_kernel_sizes),
                        resblock_dilation_sizes=[list(d) for d in c.resblock_dilation_sizes])
    reference = _import_from(folder, "models").Generator(h)
    reference.remove_weight_norm()
    copy_convolutions(model.net, reference)
    return reference.eval()


def _melgan_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    if tuple(c.upsample_ratios) != (8, 8, 2, 2):
        raise ValueError(f"the MelGAN reference has upsampling ratios (8, 8, 2, 2) fixed, this configuration "
                         f"{tuple(c.upsample_ratios)}")
    reference = _import_from(folder, "mel2wav.modules").Generator(c.n_mels, c.ngf, c.n_residual_layers)
    remove_all_weight_norms(reference)
    copy_convolutions(model.net, reference)
    return reference.eval()


# -- the diffusion models --------------------------------------------------------------------------------------------
#: The seed of the (CPU) generator ``inference_bench.generate`` gives our paths: the adapters draw our noise from it.
NOISE_SEED = 0


def _noise(mel: torch.Tensor, seed: int) -> RowNoise:
    """The noise our diffusion samplers draw for ``mel``'s batch with a generator seeded ``seed``."""
    return RowNoise(mel, torch.Generator().manual_seed(seed), mel.shape[0])


class _DiffWaveSampler(nn.Module):
    """The reference DiffWave network in DiffWave's reverse process as the reference's ``inference.predict`` runs it
    (paper Algorithm 2, the waveform clamped to [-1, 1] after every step), written here: ``mel (B, n_mels, F)`` ->
    ``audio (B, 1, F * hop)``.

    Each step calls the reference's ``forward(audio, diffusion_step, spectrogram)`` with the mel, so it upsamples the
    mel again at every step, as the reference does. Its step-embedding table holds one row per step of our schedule
    (indexed by the integer step, the reference's own branch for integer steps). Noise: our sampler's draws
    (:class:`RowNoise`, seed ``seed``), in its order: ``x_N``, then one draw after every step but the last.
    """

    def __init__(self, net: nn.Module, betas: list[float], hop: int, seed: int = NOISE_SEED):
        super().__init__()
        self.net, self.hop, self.seed = net, hop, seed
        alpha_bars = np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))
        previous = np.concatenate([[1.0], alpha_bars[:-1]])
        #: per step n: 1 / sqrt(alpha_n), beta_n / sqrt(1 - alpha-bar_n), the posterior std sigma_n
        self.coefficients = [(1.0 / (1.0 - b) ** 0.5, b / (1.0 - ab) ** 0.5, ((1.0 - ap) / (1.0 - ab) * b) ** 0.5)
                             for b, ab, ap in zip(betas, alpha_bars.tolist(), previous.tolist())]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        b, t = mel.shape[0], mel.shape[-1] * self.hop
        noise = _noise(mel, self.seed)
        audio = noise.draw((b, t))
        for n in reversed(range(len(self.coefficients))):
            c1, c2, sigma = self.coefficients[n]
            eps = self.net(audio, torch.tensor([n], device=mel.device), mel).squeeze(1)
            audio = c1 * (audio - c2 * eps)
            if n > 0:
                audio = audio + sigma * noise.draw((b, t))
            audio = audio.clamp(-1.0, 1.0)
        return audio.unsqueeze(1)


def _diffwave_pairs(model: nn.Module, net: nn.Module) -> list[LayerPair]:
    pairs = _named_pairs("", model, net, {
        "upsampler.0": "spectrogram_upsampler.conv1", "upsampler.1": "spectrogram_upsampler.conv2",
        "input_projection": "input_projection", "step_mlp.0": "diffusion_embedding.projection1",
        "step_mlp.2": "diffusion_embedding.projection2"})
    for i, (ours, theirs) in enumerate(zip(model.layers, net.residual_layers)):
        pairs += _named_pairs(f"layers.{i}.", ours, theirs, {
            "dilated_conv": "dilated_conv", "step_projection": "diffusion_projection",
            "mel_projection": "conditioner_projection", "output_projection": "output_projection"})
    return pairs + _named_pairs("", model, net, {"skip_projection": "skip_projection",
                                                 "output_projection": "output_projection"})


def _diffwave_reference(folder: Path, model: nn.Module) -> nn.Module:
    from ..vocoders.diffwave import step_encoding

    c = model.config
    _refuse_fixed("DiffWave", c, {"step_embedding_dim": 128, "step_hidden_dim": 512, "upsample_strides": (16, 16)})
    procedure = model.resolve_procedure()
    if procedure["clamp"] != "waveform":
        raise ValueError(f"the DiffWave reference clamps the waveform after every step, this procedure "
                         f"clamp={procedure['clamp']!r}")
    params = SimpleNamespace(n_mels=c.n_mels, residual_channels=c.residual_channels,
                             residual_layers=c.residual_layers, dilation_cycle_length=c.dilation_cycle,
                             unconditional=False, noise_schedule=model.train_schedule.betas.tolist())
    net = _import_from(folder / "src", "diffwave.model").DiffWave(params)
    copy_layers(_diffwave_pairs(model, net), model, net)
    schedule, steps = model.schedules()[procedure["schedule"]]
    # the reference interpolates its integer-step table linearly at a fractional step; ours evaluates the sinusoids
    # at the step itself (diffwave.step_encoding, float32 as our plain path): the table gets our rows
    net.diffusion_embedding.embedding = step_encoding(steps.to(torch.float32), c.step_embedding_dim)
    return _DiffWaveSampler(net.eval(), schedule.betas.tolist(), model.hop_length)


# -- the flows -------------------------------------------------------------------------------------------------------
class _TorchWithLatent(ModuleType):
    """``torch`` as the WaveGlow reference's module sees it during one ``infer``: ``torch.cuda.FloatTensor(*size)
    .normal_()`` (its latent draws, CUDA only) gives the next of ``draws``; every other name is torch's own."""

    def __init__(self, draws: list[torch.Tensor]):
        super().__init__("torch")
        self.cuda = SimpleNamespace(FloatTensor=self._next_draw)
        self._draws = list(draws)

    def _next_draw(self, *size: int) -> SimpleNamespace:
        draw = self._draws.pop(0)
        if tuple(draw.shape) != size:
            raise RuntimeError(f"the WaveGlow reference drew {size}, our latent's next part is {tuple(draw.shape)}")
        return SimpleNamespace(normal_=lambda: draw)

    def __getattr__(self, name: str):
        return getattr(torch, name)


class _WaveGlowSampler(nn.Module):
    """The WaveGlow reference's own ``infer(spect, sigma)``, its latent draws answered with our unit-normal latent
    (``draw_latent`` at sigma 1, seed ``seed``; it scales them by ``sigma`` itself) in the order it draws them: the
    last flow's channels, then each early output from the last to leave the flow to the first. ``(B, n_mels, F)`` ->
    ``(B, 1, F * 256)``."""

    def __init__(self, net: nn.Module, code: ModuleType, sigma: float, seed: int = NOISE_SEED):
        super().__init__()
        self.net, self.code, self.sigma, self.seed = net, code, sigma, seed

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        net, g = self.net, self.net.n_group
        latent = draw_latent((mel.shape[0], g, mel.shape[-1] * 256 // g), mel, 1.0,
                             torch.Generator().manual_seed(self.seed))
        n, early = net.n_early_size, (g - net.n_remaining_channels) // net.n_early_size
        draws = [latent[:, n * early:]] + [latent[:, n * j: n * (j + 1)] for j in reversed(range(early))]
        self.code.torch = _TorchWithLatent(draws)
        try:
            return net.infer(mel, sigma=self.sigma).unsqueeze(1)
        finally:
            self.code.torch = torch


def _waveglow_pairs(model: nn.Module, net: nn.Module) -> list[LayerPair]:
    pairs = [("upsample", model.upsample, net.upsample)]
    for k, (ours, theirs) in enumerate(zip(model.couplings, net.WN)):
        pairs.append((f"inv_convs.{k}", model.inv_convs[k].weight.unsqueeze(-1), net.convinv[k].conv))
        pairs += _named_pairs(f"couplings.{k}.", ours, theirs, {"start": "start", "cond": "cond_layer", "end": "end"})
        for i in range(len(ours.in_layers)):
            pairs += _named_pairs(f"couplings.{k}.", ours, theirs, {f"in_layers.{i}": f"in_layers.{i}",
                                                                    f"res_skip_layers.{i}": f"res_skip_layers.{i}"})
    return pairs


def _waveglow_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    _refuse_fixed("WaveGlow", c, {"upsample_kernel": 1024, "hop_length": 256})
    glow = _import_from(folder, "glow")
    net = glow.WaveGlow(c.n_mels, c.n_flows, c.n_group, c.n_early_every, c.n_early_size,
                        {"n_layers": c.wn_layers, "n_channels": c.wn_channels, "kernel_size": c.wn_kernel_size})
    net = glow.WaveGlow.remove_weightnorm(net)
    copy_layers(_waveglow_pairs(model, net), model, net)
    return _WaveGlowSampler(net.eval(), glow, model.resolve_procedure()["sigma"])


class _WaveFlowSampler(nn.Module):
    """The WaveFlow reference's upsampler and flows (each ``Flow.reverse_fast``: its row-by-row inverse with
    convolution queues and fused conditioning, as its synthesis runs) in a loop written here, from our latent
    (``draw_latent``, seed ``seed``): ``(B, n_mels, F)`` -> ``(B, 1, F * hop)``.

    Not the reference's own ``WaveFlow.reverse_fast``: that one trims ``(2 s)^2 - s^2`` = 768 samples (3 frames, a
    leftover of WaveGlow's 1024-sample upsampler) off the upsampled mel, so its audio is 3 frames shorter than the
    mel asks; the loop here keeps every sample, as ours does.
    """

    def __init__(self, net: nn.Module, code: ModuleType, sigma: float, seed: int = NOISE_SEED):
        super().__init__()
        self.net, self.code, self.sigma, self.seed = net, code, sigma, seed

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        net, h = self.net, self.net.n_height
        _, c = self.code.squeeze_to_2d(None, net.upsample(mel), h=h)  # (B, n_mels, h, T / h)
        z = draw_latent((mel.shape[0], 1, h, c.shape[-1]), mel, self.sigma,
                        torch.Generator().manual_seed(self.seed))
        for k in reversed(range(net.n_flow)):
            z, c = net.flows[k].reverse_fast(z, c, k)
        return self.code.unsqueeze_to_1d(z, h).unsqueeze(1)


def _waveflow_pairs(model: nn.Module, net: nn.Module) -> list[LayerPair]:
    pairs = [(f"upsample.{i}", ours, net.upsample_conv[2 * i]) for i, ours in enumerate(model.upsample)]
    for k, (ours, theirs) in enumerate(zip(model.flows, net.flows)):
        wavenet = theirs.coupling.net
        pairs += _named_pairs(f"flows.{k}.", ours, theirs.coupling, {"front": "net.front_conv.0.conv",
                                                                    "proj": "proj_log_s_t.conv"})
        for i, block in enumerate(wavenet.res_blocks):
            # causal on the height: the reference pads (k - 1) rows on both sides and drops the last ones (its
            # reverse_fast sets our padding itself), ours pads the top rows only
            pairs.append((f"flows.{k}.in_layers.{i}", ours.in_layers[i], block.filter_gate_conv.conv, ("padding",)))
            pairs += [(f"flows.{k}.cond_layers.{i}", ours.cond_layers[i], block.filter_gate_conv_c),
                      (f"flows.{k}.res_skip_layers.{i}", ours.res_skip_layers[i], block.res_skip_conv)]
    return pairs


def _waveflow_reference(folder: Path, model: nn.Module) -> nn.Module:
    c = model.config
    # the reference's reverse_fast keeps 2 past rows per layer: kernel 3 with height dilation 1 in every layer
    _refuse_fixed("WaveFlow", c, {"upsample_strides": (16, 16), "kernel_size": 3, "dilation_h_cycle": 1})
    code = _import_from(folder, "models.waveflow")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line at each of these steps
        net = code.WaveFlow(1, c.n_mels, c.res_channels, c.n_height, c.n_flows, c.n_layers, c.dilation_h_cycle,
                              bipartize=c.bipartition)
        net.remove_weight_norm()
        copy_layers(_waveflow_pairs(model, net), model, net)
        net.fuse_conditioning_layers()  # as its synthesis does before reverse_fast
    return _WaveFlowSampler(net.eval(), code, model.resolve_procedure()["sigma"])


#: The reference implementations an adapter exists for, by our registry name.
REFERENCES: dict[str, ReferenceImplementation] = {
    "hifigan": ReferenceImplementation(
        "hifigan", "https://github.com/jik876/hifi-gan", "hifi-gan", ("models.py", "utils.py"), _hifigan_reference,
        "models.Generator(h) with h from our configuration, remove_weight_norm() as its inference.py does"),
    "melgan": ReferenceImplementation(
        "melgan", "https://github.com/descriptinc/melgan-neurips", "melgan-neurips", ("mel2wav/modules.py",),
        _melgan_reference,
        "mel2wav.modules.Generator(n_mels, ngf, n_residual_layers), weight norm folded (its interface keeps it: "
        "folding can only make the reference faster)"),
    "diffwave": ReferenceImplementation(
        "diffwave", "https://github.com/lmnt-com/diffwave", "diffwave", ("src/diffwave/model.py",),
        _diffwave_reference,
        "(b) src/diffwave/model.DiffWave(params) with params from our configuration, its forward(audio, step, "
        "spectrogram) (mel upsampled at every step) in a reverse loop written here after its inference.predict "
        "(waveform clamped after every step), our schedule and noise; its step table holds our encodings of the "
        "schedule's fractional steps (it interpolates between integer rows, we evaluate the sinusoids)"),
    "waveglow": ReferenceImplementation(
        "waveglow", "https://github.com/NVIDIA/waveglow", "waveglow", ("glow.py",), _waveglow_reference,
        "(a) glow.WaveGlow(...) with remove_weightnorm, its own infer(spect, sigma), its CUDA-only latent draws "
        "answered with our latent"),
    "waveflow": ReferenceImplementation(
        "waveflow", "https://github.com/L0SG/WaveFlow", "WaveFlow",
        ("models/waveflow.py", "modules.py", "functions.py"), _waveflow_reference,
        "(b) models.waveflow.WaveFlow(...) with remove_weight_norm and fuse_conditioning_layers, its upsampler and "
        "Flow.reverse_fast in a loop written here from our latent (its own reverse_fast trims 3 frames of "
        "conditioning)"),
}


#: Families without an adapter, and why: their reference is not the network of our presets.
NOT_THE_SAME_NETWORK = {
    "wavegrad": "the reference ivanvovk/WaveGrad has the paper's FiLM layout and linear upsampling, our presets the "
                "thesis code's FiLM layout and sample repetition: not the same network, so no output can be held equal"}


def check_reference_root(root: str | Path, models: list[str]) -> Path:
    """``root`` as a folder holding a checkout of every requested family's reference; raises before any work.

    Raises:
        ValueError: a model without an adapter (named, with those that have one).
        FileNotFoundError: ``root`` missing, or a reference's file missing (named, with the ``git clone`` that gets it).
    """
    unknown = [m for m in models if m not in REFERENCES]
    if unknown:
        why = "".join(f" ({m}: {NOT_THE_SAME_NETWORK[m]})" for m in unknown if m in NOT_THE_SAME_NETWORK)
        raise ValueError(f"no reference adapter for {', '.join(map(repr, unknown))}{why}; adapters exist for "
                         f"{', '.join(REFERENCES)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        first = REFERENCES[models[0]]
        raise FileNotFoundError(f"--against-reference {str(root)!r} is not a folder; clone the references into one, "
                                f"e.g. git clone {first.repository} {root / first.folder}")
    for m in models:
        ref = REFERENCES[m]
        for name in ref.files:
            if not (root / ref.folder / name).is_file():
                raise FileNotFoundError(f"the {m} reference is not under {root}: {root / ref.folder / name} is "
                                        f"missing (git clone {ref.repository} {root / ref.folder})")
    return root


def build_reference(root: str | Path, model: nn.Module) -> nn.Module:
    """The reference generator of ``model``'s family and configuration with ``model``'s weights (see
    :class:`ReferenceImplementation`)."""
    import warnings

    ref = REFERENCES[model.config.model]
    with warnings.catch_warnings():  # what the references' code (written for torch 1.x) makes torch 2.x say
        warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="torch.qr is deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=SyntaxWarning)
        return ref.build(Path(root) / ref.folder, model)


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _time_interleaved(paths: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall-clock seconds of each path's call, ``repeats`` rounds, the paths interleaved within each round."""
    times: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(repeats):
        for p, run in paths.items():
            t = time.perf_counter()
            run()
            times[p].append(time.perf_counter() - t)
    return times


def compare_with_reference(
    root: str | Path,
    models: list[str],
    sizes: list[str],
    *,
    duration_s: float = 1.0,
    repeats: int = 5,
    backends: tuple[str, ...] = ("torch", "onnxruntime"),
    weights: str = "trained",
    mel: str = "speech",
    threads: int = 1,
    log: Callable[[str], None] = print,
    measure_roof: Callable[[], object] | None = None,
    count: Callable[[nn.Module, str, int], float] | None = None,
) -> pd.DataFrame:
    """Time the reference, our plain path and each prepared backend on ``duration_s`` seconds of audio, interleaved,
    ``repeats`` rounds after one warm-up call each; one row per (configuration, path).

    Every path's output is compared with the reference's on the same mel (``output_rel_l2_vs_reference``); a plain
    path further than :data:`SAME_OUTPUT_REL_L2` from it raises (the two would not be the same network), so no speed
    ratio is reported for different outputs. Times are wall-clock seconds of one ``generate`` (s); speed-ups are
    ratios of medians. Each row also carries ``gflops`` (GFLOP of our plain path on the clip: the network's work)
    and the float32 compute roof measured once at the start of the run (``peak_gflops_per_s``, GFLOP/s, and the
    kernel that set it), so a reader can tell how far any path could go without fewer FLOPs or fewer bits.
    ``measure_roof`` and ``count`` stand for :func:`inference_bench.measure_peak_gflops` and
    :func:`inference_bench.count_gflops` (tests pass fakes).
    """
    from .. import host
    from . import inference_bench as bench

    root = check_reference_root(root, models)
    if repeats < 1 or threads < 1 or duration_s <= 0:
        raise ValueError(f"repeats={repeats} and threads={threads} must be >= 1 and duration_s={duration_s} > 0")
    torch.set_num_threads(threads)
    frames = int(round(duration_s * bench.FRAMES_PER_S))
    clip = bench._speech_mel(frames) if mel == "speech" else bench._mel(frames)
    roof = bench._as_roof((measure_roof or bench.measure_peak_gflops)())
    fastest = roof.best()
    environment = {"device": host.read_cpu_model() or "cpu", "torch_version": torch.__version__,
                   "onnxruntime_version": bench._ort_version(), "peak_gflops_per_s": roof.roof_gflops_per_s,
                   "roof_kernel": fastest.name, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    log(f"compute roof {roof.roof_gflops_per_s:.1f} GFLOP/s ({fastest.name})")
    rows: list[dict] = []
    for name in models:
        folder = root / REFERENCES[name].folder
        # only the clone's own commit ("+dirty": its files were changed), never that of a repository around it
        commit = (read_git_commit(folder) or "") if (folder / ".git").exists() else ""
        for size in sizes:
            plain = bench.build(name, size, bench.VARIANT_PLAIN, weights)
            ran_weights = "trained" if bench._weights_path(name, size, weights) is not None else "fresh"
            reference = build_reference(root, plain)
            paths: dict[str, Callable[[], torch.Tensor]] = {}

            def run_reference(reference=reference):
                with torch.no_grad():
                    return reference(clip).squeeze(1)

            paths["reference"] = run_reference
            paths["plain"] = lambda model=plain: bench.generate(model, clip)
            for backend in backends:
                prepared = bench.build(name, size, f"prepared-{backend}", weights)
                paths[f"prepared-{backend}"] = lambda model=prepared: bench.generate(model, clip)
            outputs = {p: run() for p, run in paths.items()}  # the warm-up call of each path
            gap = _rel_l2(outputs["plain"], outputs["reference"])
            if gap > SAME_OUTPUT_REL_L2:
                raise RuntimeError(f"{name} {size}: our plain output differs from the reference's by relative L2 "
                                   f"{gap:.3g} > {SAME_OUTPUT_REL_L2}: not the same network, no speed is compared")
            gflops = (count or bench.count_gflops)(plain, bench.VARIANT_PLAIN, frames)
            times = _time_interleaved(paths, repeats)
            median = {p: statistics.median(v) for p, v in times.items()}
            for p in paths:
                rows.append({"model": name, "size": size, "duration_s": frames / bench.FRAMES_PER_S, "path": p,
                             "time_median_s": median[p], "time_min_s": min(times[p]),
                             "speedup_vs_reference": median["reference"] / median[p],
                             "speedup_vs_plain": median["plain"] / median[p],
                             "output_rel_l2_vs_reference": _rel_l2(outputs[p], outputs["reference"]),
                             "gflops": gflops, "repeats": repeats, "threads": threads, "weights": ran_weights, "mel": mel,
                             "reference": REFERENCES[name].repository, "reference_commit": commit, "command": "",
                             **environment})
            log(f"{name} {size}: " + ", ".join(f"{p} {median[p] * 1e3:.1f} ms ({median['reference'] / median[p]:.2f}x)"
                                              for p in paths))
    return pd.DataFrame(rows, columns=COLUMNS)
