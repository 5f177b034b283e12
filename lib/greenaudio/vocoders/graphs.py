"""Which networks of each vocoder are exported (ONNX, fp32 or int8), and the Python procedure that calls them.

Used by: :mod:`greenaudio.vocoders.onnx` (the ``"onnxruntime"`` and ``"int8"`` backends, :class:`OnnxVocoder`),
:mod:`greenaudio.quantization` (calibration, int8 files, QAT conversion), notebooks/06_quantization.ipynb.

A vocoder's ``generate(mel)`` cannot be exported whole: its ``forward`` validates the mel with data-dependent checks,
and flows and diffusion models loop (reverse steps, rows, flows) around a network. Each family is therefore split into
*graphs* — loop-free ``nn.Module`` s whose parameters are the model's own, taken after ``prepare_for_inference()`` —
and a *procedure*, plain Python that calls the graphs through a backend (torch, ONNX Runtime fp32 or int8):

* MelGAN, HiFi-GAN: one graph, the generator network (``mel -> audio``);
* DiffWave: ``conditioner`` (the two ConvTranspose2d mel upsamplers), ``embedding`` (the step MLP) and
  ``denoiser`` (``eps_theta(x_t, cond, step_embedding)``, called once per reverse step);
* WaveGrad: ``denoiser`` (``eps_theta(y_t, mel, noise-level encodings)``, called once per reverse step; the
  encodings have no parameters and are computed in float64 by the procedure, as the torch model does);
* WaveGlow: ``conditioner`` (the ConvTranspose1d upsampler, as one polyphase convolution, and the squeeze) and one
  ``flow_k`` graph per flow (affine coupling inverse then ``W^-1``), the early outputs re-joined by the procedure;
  both with 2-D ``(1, K)`` convolutions (ONNX Runtime's NCHWc kernels);
* WaveFlow: ``conditioner``, and per flow ``cond_k`` (all layers' conditioning of one row, called when the row is
  reached) and ``row_k`` (one row of the fast reverse, its convolution queues passed in and out), the row loop in
  Python.

Every parameter of the model is inside some graph, so the serialised graphs' sizes are the model's size. A family may
export other graphs for its own ONNX Runtime backends (:meth:`~greenaudio.vocoders.base.Vocoder._export_graphs`:
the GANs' 2-D convolutions, DiffWave's mel projections once per clip, :func:`split_diffwave_conditioned`);
:func:`split_vocoder` is the portable split every family has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .base import Vocoder
from .diffusion_common import NoiseSchedule, ancestral_sample
from .flow_common import draw_latent
from .registry import load, names
from .wavegrad import INFERENCE_SCHEDULES

__all__ = ["GraphSpec", "VocoderGraphs", "split_vocoder", "split_diffwave_conditioned", "describe_splits",
           "SUPPORTED_MODELS"]

#: A backend maps a graph name to a callable ``(*tensors) -> tensor or tuple of tensors``.
Backend = Mapping[str, Callable[..., Any]]

SUPPORTED_MODELS = ("melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow")


@dataclass
class GraphSpec:
    """One exportable network.

    Attributes:
        name: graph name (``"generator"``, ``"denoiser"``, ``"flow_3"`` ...), also the file stem.
        module: the ``nn.Module`` (its ``forward`` takes ``input_names`` in order).
        input_names, output_names: ONNX tensor names.
        dynamic_axes: ONNX dynamic axes per tensor name (batch, time).
        example_inputs: a tuple of tensors for export tracing.
    """

    name: str
    module: nn.Module
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    example_inputs: tuple[torch.Tensor, ...]


@dataclass
class VocoderGraphs:
    """A vocoder split into graphs and a procedure.

    Attributes:
        model: the torch model (after ``prepare_for_inference()``).
        graphs: the exportable networks, in calling order.
        procedure: ``(backend, mel (B, n_mels, F), generator) -> audio (B, F * hop)``; the loop of the model in
            Python, calling ``backend[graph name](*tensors)``.
        notes: how the procedure maps onto the model's own ``generate`` (shown in the chapter).
        memory_arena: run the graphs' ONNX Runtime sessions with a CPU memory arena, one shared by all of them
            (:func:`greenaudio.vocoders.onnx.make_session`): worth it where a graph is called many times with the
            same shapes, so that the arena's blocks are reused instead of fresh pages being faulted in at every call.
    """

    model: Vocoder
    graphs: list[GraphSpec]
    procedure: Callable[[Backend, torch.Tensor, torch.Generator | None], torch.Tensor]
    notes: str = ""
    procedure_args: dict[str, Any] = field(default_factory=dict)
    memory_arena: bool = False

    def torch_backend(self) -> dict[str, Callable[..., Any]]:
        """The graphs run by torch itself (the reference the exported graphs must reproduce)."""
        return {g.name: g.module for g in self.graphs}

    def run(self, backend: Backend, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.procedure(backend, mel, generator)


# -- GANs ------------------------------------------------------------------------------------------------------------
def split_gan(model: Vocoder, example_frames: int, module: nn.Module | None = None,
              notes: str = "one forward pass of the generator network, as generate(mel)",
              **procedure: Any) -> VocoderGraphs:
    """A GAN as one graph, ``generator`` (``module``, default ``model.net``), called once by the procedure."""
    model.resolve_procedure(**procedure)  # GANs take no procedure arguments: unknown keys raise
    mel = torch.rand(1, model.n_mels, example_frames)
    spec = GraphSpec("generator", model.net if module is None else module, ("mel",), ("audio",),
                     {"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 2: "samples"}}, (mel,))

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        return backend["generator"](mel).squeeze(1)

    return VocoderGraphs(model, [spec], procedure, notes)


# -- DiffWave --------------------------------------------------------------------------------------------------------
class _Method(nn.Module):
    """``model.<method>(*inputs)`` as a module to export (the whole model is held; the graph has what it uses)."""

    def __init__(self, model, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(*inputs)


def _diffwave_conditioning(model, example_frames: int) -> list[GraphSpec]:
    """DiffWave's per-clip graphs, in both of its splits: ``conditioner`` (the mel upsamplers) and ``embedding`` (the
    step MLP)."""
    return [
        GraphSpec("conditioner", _Method(model, "upsample_mel"), ("mel",), ("cond",),
                  {"mel": {0: "batch", 2: "frames"}, "cond": {0: "batch", 2: "samples"}},
                  (torch.rand(1, model.n_mels, example_frames),)),
        GraphSpec("embedding", model.step_mlp, ("encoding",), ("embedding",),
                  {"encoding": {0: "steps"}, "embedding": {0: "steps"}},
                  (torch.rand(6, model.config.step_embedding_dim),))]


def _diffwave(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    resolved = model.resolve_procedure(**procedure)
    schedule, clamp = resolved["schedule"], resolved.get("clamp", "none")

    cfg = model.config
    hop = model.hop_length
    t = example_frames * hop
    graphs = _diffwave_conditioning(model, example_frames) + [
        GraphSpec("denoiser", _Method(model, "predict_noise"), ("x_t", "cond", "step_embedding"), ("eps",),
                  {"x_t": {0: "batch", 1: "samples"}, "cond": {0: "batch", 2: "samples"},
                   "eps": {0: "batch", 1: "samples"}},
                  (torch.randn(1, t), torch.rand(1, model.n_mels, t), torch.randn(1, cfg.step_hidden_dim)))]
    betas, train_steps = model.schedules()[schedule]

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        embeddings = backend["embedding"](model.encode_steps(train_steps))
        cond = backend["conditioner"](mel)
        shape = (mel.shape[0], mel.shape[-1] * hop)
        return ancestral_sample(lambda x, n: backend["denoiser"](x, cond, embeddings[n:n + 1]),
                                betas, shape, mel, generator, clamp=clamp)

    return VocoderGraphs(model, graphs, procedure,
                         f"{betas.steps}-step '{schedule}' ancestral sampler in Python; conditioner and step "
                         "embedding once per clip, denoiser once per step", resolved)


class _DiffWaveMelProjections(nn.Module):
    """``cond (B, n_mels, T)`` -> the mel projections of layers ``[start, stop)`` ``(B, n * 2C, T)``: their 1x1
    convolutions stacked into one, each dilated convolution's bias added to its layer's rows (the layers run
    without it)."""

    def __init__(self, model, start: int, stop: int):
        super().__init__()
        self.layers = model.layers[start:stop]

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        weight = torch.cat([layer.mel_projection.weight for layer in self.layers])
        bias = torch.cat([layer.mel_projection.bias + layer.dilated_conv.bias for layer in self.layers])
        return F.conv1d(cond, weight, bias)


class _DiffWaveLayerGroup(nn.Module):
    """Residual layers ``[start, stop)`` of ``eps_theta`` given their mel projections:
    ``(x, skip, mel_proj (B, n * 2C, T), step_embedding (1, hidden)) -> (x_next, skip_next)``; the first group takes
    ``x_t (B, T)`` instead of ``(x, skip)`` (the input projection runs first), the last returns ``eps (B, T)`` (the
    skip projections run last)."""

    def __init__(self, model, start: int, stop: int):
        super().__init__()
        self.model, self.start, self.stop = model, start, stop
        self.first, self.last = start == 0, stop == len(model.layers)

    def forward(self, *inputs: torch.Tensor):
        m = self.model
        if self.first:
            x_t, mel_proj, step_embedding = inputs
            x, skip = F.relu(m.input_projection(x_t.unsqueeze(1))), None
        else:
            x, skip, mel_proj, step_embedding = inputs
        c2 = 2 * m.config.residual_channels
        for i, layer in enumerate(m.layers[self.start:self.stop]):
            conv = layer.dilated_conv
            y = x + layer.step_projection(step_embedding).unsqueeze(-1)
            y = F.conv1d(y, conv.weight, None, padding=conv.padding, dilation=conv.dilation) \
                + mel_proj[:, c2 * i : c2 * (i + 1)]
            gate, filt = y.chunk(2, dim=1)
            residual, s = layer.output_projection(torch.sigmoid(gate) * torch.tanh(filt)).chunk(2, dim=1)
            x = (x + residual) / math.sqrt(2.0)
            skip = s if skip is None else skip + s
        if not self.last:
            return x, skip
        x = F.relu(m.skip_projection(skip / math.sqrt(len(m.layers))))
        return m.output_projection(x).squeeze(1)


#: Residual layers per graph of :func:`split_diffwave_conditioned` (30 layers: 6 groups; 10 s of audio at C = 64 keeps
#: one group's projections, 564 MB, within DiffWave's 1 GiB ``CONDITIONER_CACHE_BYTES``).
DIFFWAVE_GROUP_LAYERS = 5


def split_diffwave_conditioned(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    """DiffWave for the ONNX Runtime backends (``Vocoder._export_graphs``): as the portable split, but the
    denoiser is cut into groups of :data:`DIFFWAVE_GROUP_LAYERS` layers that take their mel projections as an
    input, computed by ``mel_projections_<g>`` once per clip while they fit in the model's
    ``CONDITIONER_CACHE_BYTES`` (the later groups' at every step, as the plain path does for all layers). ``model``
    is prepared for inference."""
    resolved = model.resolve_procedure(**procedure)
    schedule, clamp = resolved["schedule"], resolved.get("clamp", "none")
    cfg, hop = model.config, model.hop_length
    layers, size, c2 = len(model.layers), DIFFWAVE_GROUP_LAYERS, 2 * cfg.residual_channels
    groups = [(start, min(start + size, layers)) for start in range(0, layers, size)]
    t = example_frames * hop
    cond, emb = torch.rand(1, model.n_mels, t), torch.randn(1, cfg.step_hidden_dim)
    axes = {"x_t": {0: "batch", 1: "samples"}, "x": {0: "batch", 2: "samples"}, "skip": {0: "batch", 2: "samples"},
            "x_next": {0: "batch", 2: "samples"}, "skip_next": {0: "batch", 2: "samples"},
            "mel_proj": {0: "batch", 2: "samples"}, "cond": {0: "batch", 2: "samples"},
            "eps": {0: "batch", 1: "samples"}}
    graphs = _diffwave_conditioning(model, example_frames)
    for g, (start, stop) in enumerate(groups):
        projection = (torch.rand(1, c2 * (stop - start), t),)
        graphs.append(GraphSpec(f"mel_projections_{g}", _DiffWaveMelProjections(model, start, stop), ("cond",),
                                ("mel_proj",), {k: axes[k] for k in ("cond", "mel_proj")}, (cond,)))
        inputs = (("x_t",), (torch.randn(1, t),)) if start == 0 else \
            (("x", "skip"), (torch.randn(1, c2 // 2, t), torch.randn(1, c2 // 2, t)))
        io_names = inputs[0] + ("mel_proj", "step_embedding"), ("eps",) if stop == layers else ("x_next", "skip_next")
        graphs.append(GraphSpec(f"layers_{g}", _DiffWaveLayerGroup(model, start, stop), *io_names,
                                {k: axes[k] for k in io_names[0] + io_names[1] if k in axes},
                                inputs[1] + projection + (emb,)))
    betas, train_steps = model.schedules()[schedule]

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        embeddings = backend["embedding"](model.encode_steps(train_steps))
        cond = backend["conditioner"](mel)
        b, t = mel.shape[0], mel.shape[-1] * hop
        budget, cached = model.CONDITIONER_CACHE_BYTES, {}
        for g, (start, stop) in enumerate(groups):
            need = b * c2 * (stop - start) * t * 4  # float32
            if need > budget:
                break
            cached[g], budget = backend[f"mel_projections_{g}"](cond), budget - need

        def eps(x_t: torch.Tensor, n: int) -> torch.Tensor:
            state = (x_t,)
            for g in range(len(groups)):
                projection = cached[g] if g in cached else backend[f"mel_projections_{g}"](cond)
                state = backend[f"layers_{g}"](*state, projection, embeddings[n:n + 1])
            return state

        return ancestral_sample(eps, betas, (b, t), mel, generator, clamp=clamp)

    # the arena: the groups are called at every step with the same shapes; without it ONNX Runtime's buffers are
    # fresh pages at every call (1 s, one thread: small 1.6 -> 0.95 s, medium 4.25 -> 2.96 s per clip)
    return VocoderGraphs(model, graphs, procedure,
                         f"{betas.steps}-step '{schedule}' ancestral sampler in Python; conditioner, step embedding "
                         f"and the mel projections once per clip; {len(groups)} groups of layers once per step",
                         resolved, memory_arena=True)


# -- WaveGrad --------------------------------------------------------------------------------------------------------
class _WaveGradDenoiser(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, y: torch.Tensor, mel: torch.Tensor, *encodings: torch.Tensor) -> torch.Tensor:
        return self.model.predict_noise(y, mel, list(encodings))


def _wavegrad(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    resolved = model.resolve_procedure(**procedure)
    schedule, clamp = resolved["schedule"], resolved.get("clamp", "none")

    hop = model.hop_length
    betas = NoiseSchedule.from_betas(INFERENCE_SCHEDULES[schedule])
    encodings = model.encodings(betas.noise_levels)  # float64, no parameters
    names = tuple(f"encoding_{i}" for i in range(len(encodings)))
    mel = torch.rand(1, model.n_mels, example_frames)
    example = (torch.randn(1, example_frames * hop), mel) + tuple(e[:1].float() for e in encodings)
    axes = {"y": {0: "batch", 1: "samples"}, "mel": {0: "batch", 2: "frames"}, "eps": {0: "batch", 1: "samples"}}
    graphs = [GraphSpec("denoiser", _WaveGradDenoiser(model), ("y", "mel") + names, ("eps",), axes, example)]

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        per_step = [e.to(mel.dtype) for e in encodings]
        shape = (mel.shape[0], mel.shape[-1] * hop)
        return ancestral_sample(lambda y, n: backend["denoiser"](y, mel, *[e[n:n + 1] for e in per_step]),
                                betas, shape, mel, generator, clamp=clamp)

    return VocoderGraphs(model, graphs, procedure,
                         f"{betas.steps}-step '{schedule}' ancestral sampler in Python; the whole network once per "
                         "step (its noise-level encodings computed in float64 outside the graph)", resolved)


# -- WaveGlow --------------------------------------------------------------------------------------------------------
# Both graphs compute on (B, C, 1, T) activations with 2-D (1, K) convolutions: ONNX Runtime runs those in its blocked
# NCHWc layout (1-D ones through im2col + SGEMM); inputs and outputs keep their 1-D shapes (flatten at the end, not
# Squeeze, which ONNX Runtime's quant_pre_process drops).
def _polyphase_weight(upsample: nn.ConvTranspose1d) -> torch.Tensor:
    """The weight ``(C_out * s, C_in, 1, n)`` of the ``ConvTranspose1d`` ``upsample`` (stride ``s``, kernel ``K``, no
    padding) as an ordinary convolution over its input left-padded by ``n - 1`` frames, ``n = ceil(K / s)``: output
    channel ``o * s + r`` at frame ``f`` is sample ``f * s + r`` of channel ``o`` (bias aside); tap ``t`` holds the
    kernel slice ``n - 1 - t`` (slice ``j`` reaches ``j`` frames later); a kernel that is not a multiple of the stride
    is zero-padded to one (the presets' 1024 = 4 x 256 is). Sizes are Python integers and the slices are stacked, so
    that the ONNX exporter folds the weight into one initializer."""
    stride, k = upsample.stride[0], upsample.kernel_size[0]
    c_in, c_out = upsample.in_channels, upsample.out_channels
    taps = -(-k // stride)
    weight = upsample.weight
    if taps * stride != k:
        weight = torch.cat([weight, weight.new_zeros(c_in, c_out, taps * stride - k)], 2)
    weight = torch.stack([weight[:, :, j * stride : (j + 1) * stride] for j in reversed(range(taps))], 3)
    return weight.permute(1, 2, 0, 3).reshape(c_out * stride, c_in, 1, taps)


class _WaveGlowConditioner(nn.Module):
    """``mel (B, n_mels, F)`` -> squeezed upsampled mel ``(B, n_mels * n_group, F * hop / n_group)``, as
    :meth:`~greenaudio.vocoders.waveglow.WaveGlow._conditioning`: the upsampler as one polyphase convolution
    (:func:`_polyphase_weight`: the transposed convolution's FLOPs without its column buffer and trimmed tail), its
    bias added per mel band (not repeated per phase: the graph holds as many parameters as the upsampler), then one
    transpose that interleaves the phases and squeezes."""

    def __init__(self, model):
        super().__init__()
        self.upsample = model.upsample
        self.n_group = model.config.n_group

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        up, g = self.upsample, self.n_group
        weight = _polyphase_weight(up)
        phases = F.conv2d(F.pad(mel.unsqueeze(2), (weight.shape[-1] - 1, 0)), weight)  # (B, m * hop, 1, F)
        # channel (mel, i, j) at frame f is sample f * hop + i * n_group + j: squeezed channel mel * n_group + j
        c = phases.flatten(2).unflatten(1, (up.out_channels, up.stride[0] // g, g)) + up.bias.view(-1, 1, 1, 1)
        return c.permute(0, 1, 3, 4, 2).flatten(3).flatten(1, 2)


class _WaveGlowInverseFlow(nn.Module):
    """Flow ``k`` inverted: ``x (B, c, L), cond (B, n_mels * n_group, L)`` -> ``x_prev (B, c, L)``, the affine
    coupling undone (:meth:`~greenaudio.vocoders.waveglow._CouplingWaveNet.forward_2d`) then ``W^-1``."""

    def __init__(self, model, k: int):
        super().__init__()
        self.coupling = model.couplings[k]
        w_inv = model.inv_convs[k].weight_inverse
        if w_inv is None:
            w_inv = torch.linalg.inv(model.inv_convs[k].weight.detach().double()).float()
        self.weight_inverse = nn.Parameter(w_inv.detach().clone()[:, :, None, None], requires_grad=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(2)
        half = x.shape[1] // 2
        x_a, x_b = x[:, :half], x[:, half:]
        out = self.coupling.forward_2d(x_a, cond.unsqueeze(2))
        t, log_s = out[:, :half], out[:, half:]
        x = torch.cat([x_a, (x_b - t) * torch.exp(-log_s)], 1)
        return F.conv2d(x, self.weight_inverse).flatten(2)


def _waveglow(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    cfg = model.config
    hop, g = model.hop_length, cfg.n_group
    resolved = model.resolve_procedure(**procedure)
    sigma = resolved["sigma"]
    mel = torch.rand(1, model.n_mels, example_frames)
    t = example_frames * hop // g
    graphs = [GraphSpec("conditioner", _WaveGlowConditioner(model), ("mel",), ("cond",),
                        {"mel": {0: "batch", 2: "frames"}, "cond": {0: "batch", 2: "length"}}, (mel,))]
    remaining = g
    for k in range(cfg.n_flows):
        if k in model.early:
            remaining -= cfg.n_early_size
        graphs.append(GraphSpec(f"flow_{k}", _WaveGlowInverseFlow(model, k), ("x", "cond"), ("x_prev",),
                                {"x": {0: "batch", 2: "length"}, "cond": {0: "batch", 2: "length"},
                                 "x_prev": {0: "batch", 2: "length"}},
                                (torch.randn(1, remaining, t), torch.rand(1, model.n_mels * g, t))))

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        z = draw_latent((mel.shape[0], g, mel.shape[-1] * hop // g), mel, sigma, generator)
        cond = backend["conditioner"](mel)
        n = cfg.n_early_size
        early = list(z[:, : n * len(model.early)].split(n, dim=1))
        x = z[:, n * len(model.early):]
        for k in reversed(range(cfg.n_flows)):
            x = backend[f"flow_{k}"](x, cond)
            if k in model.early:
                x = torch.cat([early.pop(), x], 1)
        return x.transpose(1, 2).reshape(z.shape[0], -1)

    return VocoderGraphs(model, graphs, procedure,
                         f"the {cfg.n_flows} inverse flows called in reverse order from Python (sigma {sigma:g}); "
                         "early outputs re-joined in Python", resolved)


# -- WaveFlow --------------------------------------------------------------------------------------------------------
class _WaveFlowConditioner(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.upsample = model.upsample
        self.n_height = model.config.n_height

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        c = mel.unsqueeze(1)
        for conv in self.upsample:
            c = F.leaky_relu(conv(c), 0.4)
        c = c.squeeze(1)  # (B, m, T)
        return c.unflatten(-1, (-1, self.n_height)).transpose(2, 3)  # (B, m, h, T / h)


class _WaveFlowCond(nn.Module):
    def __init__(self, net):
        super().__init__()
        weight = torch.cat([layer.weight for layer in net.cond_layers]).detach().clone()
        bias = torch.cat([layer.bias for layer in net.cond_layers]).detach().clone()
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
            self.conv.bias.copy_(bias)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.conv(c)


def _waveflow(model, example_frames: int, **procedure: Any) -> VocoderGraphs:
    cfg = model.config
    hop, h = model.hop_length, cfg.n_height
    resolved = model.resolve_procedure(**procedure)
    if resolved.get("reverse", "fast") != "fast":
        raise ValueError(f"reverse={resolved['reverse']!r} is not supported here; valid: ['fast']")
    sigma = resolved["sigma"]
    mel = torch.rand(1, model.n_mels, example_frames)
    w = example_frames * hop // h
    graphs = [GraphSpec("conditioner", _WaveFlowConditioner(model), ("mel",), ("cond",),
                        {"mel": {0: "batch", 2: "frames"}, "cond": {0: "batch", 3: "width"}}, (mel,))]
    net0 = model.flows[0]
    r, k = net0.channels, net0.kernel_size
    queue_shapes = [(r, (k - 1) * dh) for dh, _ in net0.dilations]
    qnames = tuple(f"queue_{l}" for l in range(len(queue_shapes)))
    for f, net in enumerate(model.flows):
        graphs.append(GraphSpec(f"cond_{f}", _WaveFlowCond(net), ("c",), ("features",),
                                {"c": {0: "batch", 2: "rows", 3: "width"},
                                 "features": {0: "batch", 2: "rows", 3: "width"}},
                                (torch.rand(1, model.n_mels, h - 1, w),)))
        axes = {n: {0: "batch", 3: "width"} for n in ("row", "cond", "log_s_t") + qnames}
        axes.update({f"new_{n}": {0: "batch", 3: "width"} for n in qnames})
        graphs.append(GraphSpec(f"row_{f}", _Method(net, "row_step"), ("row", "cond") + qnames,
                                ("log_s_t",) + tuple(f"new_{n}" for n in qnames), axes,
                                (torch.randn(1, 1, 1, w), torch.randn(1, 2 * r * len(queue_shapes), 1, w))
                                + tuple(torch.randn(1, c, rows, w) for c, rows in queue_shapes)))

    def procedure(backend: Backend, mel: torch.Tensor, generator) -> torch.Tensor:
        b = mel.shape[0]
        width = mel.shape[-1] * hop // h
        z = draw_latent((b, 1, h, width), mel, sigma, generator)
        c = backend["conditioner"](mel)
        x = z
        for f in reversed(range(len(model.flows))):
            x = model._rows(x, model._perms[f])
            ck = model._rows(c, model._orders[f])
            queues = [x.new_zeros(b, ch, rows, width) for ch, rows in queue_shapes]
            rows = [x[:, :, :1]]
            for i in range(1, h):  # row i's conditioning when row i is reached: one row of L * 2r channels in memory
                cond = backend[f"cond_{f}"](ck[:, :, i:i + 1].contiguous())
                out = backend[f"row_{f}"](rows[-1].contiguous(), cond, *queues)
                log_s_t, queues = out[0], list(out[1:])
                rows.append((x[:, :, i:i + 1] - log_s_t[:, 1:]) * torch.exp(-log_s_t[:, :1]))
            x = torch.cat(rows, 2)
        return x.transpose(2, 3).reshape(b, -1)

    return VocoderGraphs(model, graphs, procedure,
                         f"fast reverse (row by row, {h} rows x {len(model.flows)} flows) in Python; each row's "
                         "conditioning computed when the row is reached; the row network and its convolution queues "
                         "are the graph's inputs and outputs (sigma "
                         f"{sigma:g})", resolved)


_SPLITTERS = {"melgan": split_gan, "hifigan": split_gan, "diffwave": _diffwave, "wavegrad": _wavegrad,
              "waveglow": _waveglow, "waveflow": _waveflow}


def split_vocoder(model: Vocoder, example_frames: int = 8, **procedure: Any) -> VocoderGraphs:
    """Split a zoo vocoder into exportable graphs and its Python procedure (after ``prepare_for_inference()``).

    Args:
        model: a vocoder of the zoo (its ``config.model`` names the family).
        example_frames: mel frames of the example inputs used to trace the graphs (the time axis stays dynamic).
        **procedure: ``schedule`` for diffusion models, ``sigma`` for flows.

    Raises:
        ValueError: unknown family.
    """
    name = getattr(getattr(model, "config", None), "model", None)
    if name not in _SPLITTERS:
        raise ValueError(f"no graph split for model {name!r}; supported models: {list(SUPPORTED_MODELS)}")
    model.prepare_for_inference()
    return _SPLITTERS[name](model, example_frames, **procedure)


#: Channel widths used by :func:`describe_splits` (the split's graphs and loop do not depend on widths).
_NARROW = {
    "melgan": {"ngf": 4, "n_residual_layers": 1},
    "hifigan": {"upsample_initial_channel": 16},
    "wavegrad": {"upsample_preconv_channels": 8, "upsample_channels": (8, 8, 8, 4, 4),
                 "downsample_preconv_channels": 4, "downsample_channels": (4, 4, 8, 8)},
    "diffwave": {"residual_channels": 4},
    "waveflow": {"res_channels": 4},
    "waveglow": {"wn_channels": 4}}


def describe_splits(size: str = "small") -> list[dict[str, str]]:
    """For each family: the graphs it is split into and how its procedure calls them (for the chapter's table).

    The models are built with narrow channels (:data:`_NARROW`) to save time: graphs, layer counts, flows, rows and
    steps are those of the ``size`` preset.
    """
    rows = []
    for name in names():
        g = split_vocoder(load(name, size, **_NARROW.get(name, {})))
        graph_names = [s.name for s in g.graphs]
        shown = ", ".join(graph_names[:4]) + (f", ... ({len(graph_names)} in all)" if len(graph_names) > 4 else "")
        rows.append({"model": name, "graphs": shown, "procedure": g.notes})
    return rows
