"""The uniform interface every vocoder of the zoo implements.

Used by: notebooks/05_0_models.ipynb, notebooks/05_1_cost_benchmark.ipynb, greenaudio.measure, greenaudio.training.

Every model maps a normalised log-mel spectrogram ``(B, n_mels, frames)`` to a waveform ``(B, frames * hop_length)``
through ``generate(mel, **procedure)``. The *procedure* (diffusion steps, flow sigma, noise schedule, fast or plain
reverse) is an explicit keyword argument, validated, and echoed back in the returned :class:`Generation` so that cost
measurements can record exactly what ran.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from ..host import cpu_flags
from ..validation import (check_bool, check_choice, check_finite_number, check_int, check_non_negative_number,
                          check_positive_int)

__all__ = ["Generation", "OptimizerConfig", "Vocoder", "VocoderConfig", "validate_mel", "remove_all_weight_norms",
           "count_parameters", "INFERENCE_BACKENDS", "REDUCED_PRECISION_BACKENDS", "BACKEND_ISA", "PreparedModelError",
           "available_backends", "check_backend", "register_backend", "Bfloat16Copy"]

#: Backends of :meth:`Vocoder.prepare_for_inference`: ``"torch"`` (eager PyTorch with the family's inference-only
#: rewrites, the default), ``"compile"`` (the same, with the network called in the loop compiled by
#: ``torch.compile``; needs a C++ compiler), ``"onnxruntime"`` (that network exported to an fp32 ONNX graph and run by
#: ONNX Runtime; the loops stay in Python), and two reduced-precision ones (:data:`REDUCED_PRECISION_BACKENDS`):
#: ``"bf16"`` (the prepared torch path computing in bfloat16; needs AVX512_BF16) and ``"int8"`` (the ONNX graph
#: statically quantised to int8, QDQ; needs VNNI). Every family implements all five (:attr:`Vocoder.supported_backends`
#: is where a future family would say otherwise).
INFERENCE_BACKENDS = ("torch", "compile", "onnxruntime", "bf16", "int8")

#: Backends whose output differs from the plain path's by more than float32 rounding (their change is measured and
#: stated, never held to the prepared paths' 1e-4 tolerance).
REDUCED_PRECISION_BACKENDS = ("bf16", "int8")

#: The instruction set a reduced-precision backend needs, as (name in messages, ``/proc/cpuinfo`` flags of which any
#: one suffices). Without it PyTorch emulates bfloat16 arithmetic and ONNX Runtime's int8 kernels multiply with
#: three AVX2 instructions per 32 products: both then run slower than float32 (the quantisation chapter measured
#: int8 at 1.12-1.73x torch fp32 on an AVX2 CPU without VNNI, against 2.2-3.5x with AVX512_VNNI).
BACKEND_ISA = {
    "bf16": ("AVX512_BF16", ("avx512_bf16", "amx_bf16")),
    "int8": ("VNNI (AVX512_VNNI or AVX_VNNI)", ("avx512_vnni", "avx_vnni", "amx_int8"))}

#: The backends run by a runner outside the torch model, and the module that registers each when it is imported
#: (:func:`register_backend`), with what it brings. ``greenaudio.vocoders`` imports its own ONNX runner; int8 needs
#: calibration and QDQ quantisation, which sit above the vocoders in :mod:`greenaudio.quantization`.
RUNNER_BACKENDS = {
    "onnxruntime": ("greenaudio.vocoders.onnx", "the ONNX export and runner"),
    "int8": ("greenaudio.quantization", "calibration on real mels and int8 QDQ quantisation")}
_RUNNERS: dict[str, tuple[Callable[[Any, int], Any] | None, Callable[[Any, Any], Any]]] = {}


def register_backend(name: str, build: Callable[[Any, Any], Any],
                     check: Callable[[Any, int], Any] | None = None) -> None:
    """Register the runner of a backend of :data:`RUNNER_BACKENDS` (done by the module named there, on import).

    Args:
        name: ``"onnxruntime"`` or ``"int8"``.
        build: ``(model, checked calibration_mels) -> runner``, called by :meth:`Vocoder.prepare_for_inference` after
            the torch preparation; the runner's ``run(mel, generator, procedure)`` gives the audio.
        check: ``(calibration_mels, n_mels) -> checked calibration_mels``, called before any work (raises
            ``ValueError``); ``None``: the backend takes no ``calibration_mels``.
    """
    if name not in RUNNER_BACKENDS:
        raise ValueError(f"backend={name!r} is not valid here; choose one of {list(RUNNER_BACKENDS)}")
    _RUNNERS[name] = (check, build)


def _runner(backend: str) -> tuple[Callable[[Any, int], Any] | None, Callable[[Any, Any], Any]] | None:
    """The registered ``(check, build)`` of a runner backend, ``None`` for the torch backends.

    Raises:
        ValueError: a runner backend whose module was not imported (named, with the import to run).
    """
    if backend not in RUNNER_BACKENDS:
        return None
    if backend not in _RUNNERS:
        module, what = RUNNER_BACKENDS[backend]
        raise ValueError(f"backend={backend!r} needs {module} ({what}), which registers it when imported: run "
                         f"`import {module}` first")
    return _RUNNERS[backend]


class Bfloat16Copy:
    """The ``"bf16"`` backend of a family without a bfloat16 path of its own: a copy of the prepared model whose
    parameters, buffers and inference caches are cast to bfloat16 (:meth:`Vocoder._apply` casts the caches), run on
    the mel cast to bfloat16, the noise drawn in bfloat16 from the caller's generator, float32 audio returned.

    The caller's model keeps its float32 weights (re-preparing it with ``"torch"`` gives the float32 path back); the
    copy holds half as many bytes again as the weights. On a CPU with AVX512_BF16 oneDNN runs the copy's convolutions
    and matrix products with two bfloat16 products per float32 lane; the elementwise work also runs in bfloat16."""

    def __init__(self, model: "Vocoder"):
        twin = copy.deepcopy(model)
        twin.__dict__["_inference"] = {"backend": "torch", "runner": None, "compiled": {}}
        self.model = twin.to(torch.bfloat16)

    def run(self, mel: torch.Tensor, generator: torch.Generator | None, procedure: dict[str, Any]) -> torch.Tensor:
        """``(B, n_mels, frames)`` mel -> ``(B, frames * hop_length)`` float32 audio, computed in bfloat16."""
        return self.model._generate(mel.to(torch.bfloat16), generator=generator, **procedure).float()


class PreparedModelError(RuntimeError):
    """A model prepared for inference was asked to train (``model.train()``, a loss, a forward needing grad)."""


def _cxx_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU code generator would use (``$CXX``, else ``c++``/``g++``/``clang++``)."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _backend_problems() -> dict[str, str]:
    """Backend -> why it cannot run on this machine (absent when it can)."""
    problems = {}
    if not hasattr(torch, "compile"):
        problems["compile"] = f"torch {torch.__version__} has no torch.compile"
    elif _cxx_compiler() is None:
        problems["compile"] = "no C++ compiler found ($CXX, c++, g++, clang++): torch.compile cannot build CPU kernels"
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        problems["onnxruntime"] = f"package(s) {missing} not installed (pip install onnx onnxruntime)"
        problems["int8"] = problems["onnxruntime"]
    flags = cpu_flags()
    for backend, (isa, names) in BACKEND_ISA.items():
        if not flags.intersection(names):
            seen = "no CPU flags could be read from /proc/cpuinfo" if not flags else \
                f"none of the flags {list(names)} in /proc/cpuinfo"
            problems[backend] = (f"this CPU lacks the {isa} instruction set ({seen}); without it {backend} runs "
                                 "slower than float32")
    return problems


def available_backends() -> list[str]:
    """The :data:`INFERENCE_BACKENDS` that can run on this machine (``"torch"`` always)."""
    problems = _backend_problems()
    return [b for b in INFERENCE_BACKENDS if b not in problems]


def check_backend(backend: Any) -> str:
    """Validate a ``prepare_for_inference`` backend; returns its canonical name.

    Raises:
        ValueError: an unknown backend, or one that cannot run here; the message names the available ones.
    """
    available = available_backends()
    try:
        name = check_choice("backend", backend, INFERENCE_BACKENDS)
    except ValueError:
        raise ValueError(
            f"backend={backend!r} is not valid; choose one of {list(INFERENCE_BACKENDS)} (available on this machine: "
            f"{available})"
        ) from None
    problem = _backend_problems().get(name)
    if problem:
        raise ValueError(f"backend={name!r} is not available here: {problem}; available backends: {available}")
    return name


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimiser settings of a model's reference training recipe.

    Args:
        name: ``"adam"`` or ``"adamw"``.
        lr: learning rate.
        betas: Adam betas.
        weight_decay: decoupled (AdamW) or L2 (Adam) weight decay.
        lr_decay_per_epoch: multiplicative learning-rate decay applied once per epoch (1.0 = none).
        grad_clip_norm: gradient-norm clipping threshold, ``None`` for none.
    """

    name: str = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_decay_per_epoch: float = 1.0
    grad_clip_norm: float | None = None

    def __post_init__(self) -> None:
        """Validate every field (``ValueError`` naming ``OptimizerConfig.<field>``, its valid range and the value)."""
        check_config_choice(self, "name", ("adam", "adamw"))
        check_config_number(self, "lr", min_value=0.0, min_inclusive=False)
        betas = self.betas
        if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"OptimizerConfig.betas must be a pair of numbers in [0, 1), got {betas!r}")
        object.__setattr__(self, "betas", tuple(
            check_finite_number(f"OptimizerConfig.betas[{i}]", b, min_value=0.0, max_value=1.0, max_inclusive=False)
            for i, b in enumerate(betas)))
        check_config_number(self, "weight_decay", min_value=0.0)
        check_config_number(self, "lr_decay_per_epoch", min_value=0.0, max_value=1.0, min_inclusive=False)
        if self.grad_clip_norm is not None:
            check_config_number(self, "grad_clip_norm", min_value=0.0, min_inclusive=False)


@dataclass(frozen=True)
class VocoderConfig:
    """Base of every model's typed configuration.

    Subclasses add their architecture fields. All fields are plain values (numbers, strings, tuples), so a config
    round-trips through :meth:`to_dict` / :meth:`from_dict` and is saved beside every checkpoint.

    Args:
        model: registry name of the model family (``"melgan"``, ``"hifigan"``, ...).
        size: preset name (``"small"``, ``"medium"``, ``"large"``, or a paper variant such as ``"v1"``), or ``"custom"``.
        sample_rate: audio sampling rate (in Hz).
        n_mels: number of mel bands of the conditioning spectrogram.
        hop_length: audio samples per mel frame.
        optimizer: the reference training recipe's optimiser.
    """

    model: str = ""
    size: str = "custom"
    sample_rate: int = 16_000
    n_mels: int = 80
    hop_length: int = 256
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (tuples become lists), suitable for JSON/YAML."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "VocoderConfig":
        """Inverse of :meth:`to_dict`; rejects unknown keys with the list of valid ones."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown} for {cls.__name__}; valid fields: {sorted(names)}")
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key == "optimizer" and isinstance(value, Mapping):
                value = OptimizerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            elif isinstance(value, list):
                value = _tupled(value)
            kwargs[key] = value
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "VocoderConfig":
        """A copy with some fields changed (the config itself is immutable)."""
        return dataclasses.replace(self, **changes)


# -- field checks for the configs' ``__post_init__`` -------------------------------------------------------------------
# Each takes the (frozen) config and a field name, validates the field with greenaudio.validation under the name
# ``<ConfigClass>.<field>``, stores the value back normalised to plain Python types (a numpy integer becomes an
# ``int``, a list a tuple: configs are saved as JSON beside checkpoints) and returns it.


def _field_name(config: Any, name: str) -> str:
    return f"{type(config).__name__}.{name}"


def _store(config: Any, name: str, value: Any) -> Any:
    object.__setattr__(config, name, value)  # frozen dataclass: normalise in place during __post_init__
    return value


def check_config_int(config: Any, name: str, min_value: int | None = 1) -> int:
    """Validate the integer field ``name`` of ``config`` (>= ``min_value``, default 1); returns it as ``int``."""
    return _store(config, name, check_int(_field_name(config, name), getattr(config, name), min_value=min_value))


def check_int_tuple(
    name: str,
    value: Any,
    *,
    min_value: int = 1,
    length: int | None = None,
    min_length: int = 1,
    odd: bool = False,
    even: bool = False) -> tuple[int, ...]:
    """Validate a tuple (or list) of integers >= ``min_value``: exactly ``length`` items (or at least
    ``min_length``), optionally all odd or all even; returns a tuple of ``int``.

    Raises:
        ValueError: naming ``name``, what is valid and the value (and the bad item's index).
    """
    parity = " odd" if odd else " even" if even else ""
    what = f"a tuple of{parity} integers >= {min_value}"
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must be {what} with {length} item(s), got {len(value)}: {tuple(value)!r}")
    if len(value) < min_length:
        raise ValueError(f"{name} must be {what} with at least {min_length} item(s), got {tuple(value)!r}")
    items = tuple(check_int(f"{name}[{i}]", v, min_value=min_value) for i, v in enumerate(value))
    for i, v in enumerate(items):
        if (odd and v % 2 == 0) or (even and v % 2):
            raise ValueError(f"{name} must be {what}, got {items!r} ({name}[{i}] = {v} is not{parity})")
    return items


def check_config_ints(config: Any, name: str, **rules: Any) -> tuple[int, ...]:
    """Validate the field ``name`` of ``config`` with :func:`check_int_tuple` (``rules``: ``min_value``, ``length``,
    ``min_length``, ``odd``, ``even``); returns it as a tuple of ``int``."""
    return _store(config, name, check_int_tuple(_field_name(config, name), getattr(config, name), **rules))


def check_config_number(config: Any, name: str, **bounds: Any) -> float:
    """Validate the real-number field ``name`` of ``config`` (``bounds`` as :func:`check_finite_number`)."""
    return _store(config, name, check_finite_number(_field_name(config, name), getattr(config, name), **bounds))


def check_config_choice(config: Any, name: str, choices: tuple[Any, ...]) -> Any:
    """Validate the field ``name`` of ``config`` against ``choices``; stores the canonical spelling."""
    return _store(config, name, check_choice(_field_name(config, name), getattr(config, name), choices))


def check_config_bool(config: Any, name: str) -> bool:
    """Validate the flag ``name`` of ``config`` (True or False, never 0/1 or a string)."""
    return _store(config, name, check_bool(_field_name(config, name), getattr(config, name)))


def positive_int_or_none(value: Any) -> int | None:
    """``value`` as an ``int`` if it is a valid common field (integer >= 1), else ``None``.

    The family configs compare their own fields with ``hop_length``; an invalid ``hop_length`` itself is reported by
    :func:`greenaudio.vocoders.registry.check_common_fields` (``config_for`` and ``build`` call it), so a family
    check skips the comparison instead of failing on it with a less clear message."""
    try:
        return check_positive_int("hop_length", value)
    except ValueError:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


@dataclass(frozen=True)
class Generation:
    """Output of :meth:`Vocoder.generate`.

    Attributes:
        audio: generated waveform, shape ``(B, frames * hop_length)``, float, in [-1, 1] for the GANs (tanh output),
            unbounded for flows and diffusion models.
        procedure: the inference procedure that actually ran, with every default resolved (e.g.
            ``{"steps": 6, "schedule": "fast"}``, ``{"sigma": 0.6}``, ``{"reverse": "fast"}``).
        sample_rate: sampling rate of ``audio`` (in Hz).
    """

    audio: torch.Tensor
    procedure: dict[str, Any]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Duration of one generated clip (in seconds of audio)."""
        return self.audio.shape[-1] / self.sample_rate


def validate_mel(mel: Any, n_mels: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Check a conditioning mel spectrogram and return it as a ``(B, n_mels, frames)`` tensor.

    Accepts ``(n_mels, frames)`` (a batch of one is added) or ``(B, n_mels, frames)``, as a ``torch.Tensor`` or a
    numpy array (converted with ``torch.as_tensor``; librosa returns float32 or float64 arrays). An empty batch
    (``B == 0``) is valid.

    Dtype: any floating dtype is accepted. When ``dtype`` is given the mel is cast to it: :meth:`Vocoder.generate`
    passes the model's weight dtype, so a float64 mel (numpy's and librosa's default) is rounded to float32 (a
    relative error below 6e-8, far below anything audible in a normalised log-mel), and float16 or bfloat16 mels
    are widened exactly. Integer, boolean and complex mels are rejected: a mel is a real-valued log spectrogram.

    Args:
        mel: the spectrogram.
        n_mels: the number of bands the model expects.
        dtype: floating dtype to cast to, ``None`` to keep the input's.

    Raises:
        ValueError: not a tensor or array, wrong number of dimensions or bands, no frames, non-floating dtype, NaN
            or inf.
    """
    n_mels = check_positive_int("n_mels", n_mels)
    if isinstance(mel, np.ndarray):
        if not np.issubdtype(mel.dtype, np.floating):
            raise ValueError(f"mel must be a floating-point array (a normalised log-mel), got numpy dtype {mel.dtype}")
        mel = torch.as_tensor(np.ascontiguousarray(mel))
    if not isinstance(mel, torch.Tensor):
        raise ValueError(
            f"mel must be a torch.Tensor or numpy array of shape (B, {n_mels}, frames), got {type(mel).__name__}")
    if mel.dim() == 2:
        mel = mel.unsqueeze(0)
    if mel.dim() != 3:
        raise ValueError(f"mel must have shape (B, {n_mels}, frames) or ({n_mels}, frames), got {tuple(mel.shape)}")
    if mel.shape[1] != n_mels:
        raise ValueError(f"mel has {mel.shape[1]} bands, this model expects {n_mels} (shape {tuple(mel.shape)})")
    if mel.shape[2] < 1:
        raise ValueError(f"mel has no frames (shape {tuple(mel.shape)}); frames must be >= 1")
    if not torch.is_floating_point(mel):
        raise ValueError(
            f"mel must be a floating-point tensor (float32, float64, float16 or bfloat16), got dtype {mel.dtype}")
    if not torch.isfinite(mel).all():
        bad = int((~torch.isfinite(mel)).sum())
        raise ValueError(f"mel contains {bad} NaN or inf value(s)")
    if dtype is not None:
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype}")
        mel = mel.to(dtype)
    return mel


def model_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of a module's floating-point weights (``torch.float32`` for a module without any)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def check_non_negative_float(name: str, value: Any) -> float:
    """Validate a procedure argument that must be a finite number >= 0 (e.g. flow sigma)."""
    return check_non_negative_number(name, value)


class Vocoder(nn.Module):
    """Base class of the zoo: a mel-conditioned waveform generator with a uniform inference interface.

    Subclasses set ``family`` (``"gan"``, ``"flow"`` or ``"diffusion"``), build their layers from ``config``, and
    implement :meth:`_generate` and :meth:`default_procedure`. Flows and diffusion models implement
    :meth:`training_loss`; GANs expose their discriminators through :meth:`build_discriminator`.
    """

    family: ClassVar[str] = ""

    def __init__(self, config: VocoderConfig):
        super().__init__()
        self.config = config

    # -- properties shared by all -------------------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        """Audio samples per mel frame."""
        return self.config.hop_length

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    @property
    def sample_rate(self) -> int:
        """Output sampling rate (in Hz)."""
        return self.config.sample_rate

    # -- inference ----------------------------------------------------------------------------------------------
    def default_procedure(self) -> dict[str, Any]:
        """The inference procedure used when ``generate`` gets no keyword arguments."""
        return {}

    def resolve_procedure(self, **procedure: Any) -> dict[str, Any]:
        """Merge ``procedure`` into the defaults and validate it; unknown keys raise ``ValueError``."""
        resolved = dict(self.default_procedure())
        unknown = sorted(set(procedure) - set(resolved))
        if unknown:
            raise ValueError(
                f"unknown procedure argument(s) {unknown} for {type(self).__name__}; valid: {sorted(resolved)}")
        resolved.update(procedure)
        return self._validate_procedure(resolved)

    def _validate_procedure(self, procedure: dict[str, Any]) -> dict[str, Any]:
        return procedure

    def generate(self, mel: Any, *, generator: torch.Generator | None = None, **procedure: Any) -> Generation:
        """Synthesise audio from a normalised log-mel spectrogram, without gradients.

        Args:
            mel: ``(B, n_mels, frames)`` or ``(n_mels, frames)``, a tensor on the model's device or a numpy array
                (CPU models). Any floating dtype: it is cast to the model's weight dtype (a float64 mel is rounded
                to float32, see :func:`validate_mel`). An empty batch (``B == 0``) gives an empty ``(0, frames *
                hop_length)`` output without running the model.
            generator: optional ``torch.Generator`` for the noise of flows and diffusion models (seeded generation).
            **procedure: model-specific inference settings (see :meth:`default_procedure`), validated before any
                work starts.

        Returns:
            :class:`Generation` with ``audio`` of shape ``(B, frames * hop_length)`` (``requires_grad=False``: the
            model runs under ``torch.no_grad``; GANs train through :meth:`forward`) and the resolved procedure.
        """
        dtype = model_dtype(self)
        mel = validate_mel(mel, self.n_mels, dtype=dtype)
        resolved = self.resolve_procedure(**procedure)
        expected = mel.shape[-1] * self.hop_length
        if mel.shape[0] == 0:
            empty = torch.zeros(0, expected, dtype=dtype, device=mel.device)
            return Generation(audio=empty, procedure=resolved, sample_rate=self.sample_rate)
        state = self.__dict__.get("_inference")
        with torch.no_grad():
            if state is not None and state["runner"] is not None:  # backends "onnxruntime" and "int8"
                audio = state["runner"].run(mel, generator, resolved)
            else:
                audio = self._generate(mel, generator=generator, **resolved)
        if audio.dim() != 2 or audio.shape[-1] != expected:
            raise RuntimeError(
                f"{type(self).__name__} produced audio of shape {tuple(audio.shape)}, expected (B, {expected})")
        return Generation(audio=audio, procedure=resolved, sample_rate=self.sample_rate)

    def _generate(self, mel: torch.Tensor, *, generator: torch.Generator | None, **procedure: Any) -> torch.Tensor:
        raise NotImplementedError

    #: The :data:`INFERENCE_BACKENDS` this family implements (all of them: ``"bf16"`` through
    #: :class:`Bfloat16Copy` unless the family has a bfloat16 path of its own, ``"int8"`` through the quantised graphs).
    supported_backends: ClassVar[tuple[str, ...]] = INFERENCE_BACKENDS

    def prepare_for_inference(self, backend: str = "torch", *, calibration_mels: Any = None) -> "Vocoder":
        """Turn the model into an inference-only model; returns ``self`` (eval mode).

        Always: weight normalisation removed (folded into the weights), eval mode, and the family's inference-only
        rewrites (:meth:`_prepare_family`: step-independent conditioning computed once per ``generate`` call,
        memory-lean conditioning, in-place accumulation; see each family's docstring). Outputs of the float32
        backends equal the plain path's to float32 rounding (the tests hold every configuration to an absolute
        difference below 1e-4 on unit-scale audio); the reduced-precision backends change the output by a measured
        amount (SNR and D_STFT against float32, stated in the README).

        Args:
            backend: one of :data:`INFERENCE_BACKENDS`: ``"torch"`` (default), ``"compile"`` (``torch.compile`` of
                the network called in the loop; compiled on the first call for each input shape, which takes
                minutes on a small CPU; DiffWave's is not compiled, Inductor's code being slower than its prepared
                torch path), ``"onnxruntime"`` (that network exported to fp32 ONNX graphs with
                :mod:`greenaudio.vocoders.graphs`, or the family's own export graph, run by ONNX Runtime with
                as many intra-op threads as :func:`torch.get_num_threads` gives at preparation; loops in Python:
                :class:`greenaudio.vocoders.onnx.OnnxVocoder`), ``"bf16"`` (the prepared torch path with bfloat16
                weights and activations, float32 output) or ``"int8"`` (the ONNX graphs quantised statically to
                int8: QDQ, per-channel int8 weights, uint8 activations, ranges from ``calibration_mels``; registered
                by ``import greenaudio.quantization``, where calibration and quantisation live). The family must
                implement it
                (:attr:`supported_backends`) and the machine run it (:func:`available_backends`: the reduced-precision
                ones need the instruction set named in :data:`BACKEND_ISA`).
            calibration_mels: ``"int8"`` only: real normalised log-mels the quantisation ranges are taken from,
                float32 ``(N, n_mels, frames)`` or a list of ``(n_mels, frames)``; ``None`` takes the first 8 mels of
                the offline speech corpus's training split (``greenaudio.data.load_espeak_speech``, built with
                espeak-ng on first use). Must be ``None`` for the other backends.

        The caches follow the model through later ``.to(dtype)``, ``.half()`` or ``.to(device)`` calls (see
        :meth:`_apply`): a model prepared in float32 and then cast to bfloat16 runs in bfloat16.

        Afterwards ``model.train()``, the training losses and a GAN ``forward`` with gradients enabled raise
        :class:`PreparedModelError`: the weights have been rewritten for inference, gradients through them would
        not be those of the trained parametrisation. Rebuild with ``vocoders.build(model.config)`` to train.

        Raises:
            ValueError: unknown backend, one unavailable on this machine (the message names the missing package or
                instruction set and the available backends), one this family does not implement, ``"int8"`` before
                ``import greenaudio.quantization`` (named), or bad ``calibration_mels``; all before the model is
                changed.
        """
        backend = check_backend(backend)
        if backend not in self.supported_backends:
            raise ValueError(f"backend={backend!r} is not implemented for {type(self).__name__}; its backends: "
                             f"{list(self.supported_backends)}")
        runner = _runner(backend)
        if runner is not None and runner[0] is not None:
            calibration_mels = runner[0](calibration_mels, self.n_mels)
        elif calibration_mels is not None:
            raise ValueError(f"calibration_mels is only used by backend='int8', got it with backend={backend!r}")
        self.__dict__.pop("_inference", None)  # re-preparing: allowed, starts from the torch state
        remove_all_weight_norms(self)
        self.eval()
        with torch.no_grad():
            self._prepare_family()
            self._prepare_precision(backend)
        state: dict[str, Any] = {"backend": backend, "runner": None, "compiled": {}}
        self.__dict__["_inference"] = state  # a plain dict: compiled modules and sessions stay out of state_dict
        if runner is not None:
            state["runner"] = runner[1](self, calibration_mels)
            self.__dict__["_inference"] = state  # the graph split re-prepares the torch model: restore
        elif backend == "bf16":
            state["runner"] = self._bfloat16_runner()
        return self

    def _bfloat16_runner(self) -> "Bfloat16Copy | None":
        """Family hook of the ``"bf16"`` backend: the runner that computes in bfloat16 (default: a bfloat16 copy of
        the prepared model, :class:`Bfloat16Copy`), or ``None`` when :meth:`_prepare_precision` gave the torch
        path bfloat16 caches of its own (the GANs)."""
        return Bfloat16Copy(self)

    def _prepare_precision(self, backend: str) -> None:
        """Family hook of :meth:`prepare_for_inference` after :meth:`_prepare_family`: caches for a backend that
        computes in another precision (``"bf16"``); runs under ``torch.no_grad``."""

    def _export_graphs(self, example_frames: int, **procedure: Any) -> Any:
        """Family hook of the ONNX Runtime backends: the :class:`greenaudio.vocoders.graphs.VocoderGraphs` to
        export (graphs faster in ONNX Runtime than the portable split), or ``None`` for
        :func:`greenaudio.vocoders.graphs.split_vocoder`'s."""
        return None

    def _prepare_family(self) -> None:
        """Family hook of :meth:`prepare_for_inference` (caches, fused weights); runs under ``torch.no_grad``."""

    def _apply(self, fn: Any, recurse: bool = True) -> "Vocoder":
        """``nn.Module._apply`` (behind ``.to()``, ``.half()``, ``.cuda()`` ...), extended to the prepared caches.

        :meth:`prepare_for_inference` keeps derived weights (stacked projections, step embeddings, inverse matrices,
        ...) as plain attributes of the model and its submodules, which ``nn.Module`` does not convert: a model
        prepared in float32 and then cast with ``.to(torch.bfloat16)`` would mix bfloat16 weights with float32
        caches (``self and mat2 must have the same dtype``), and one moved to another device would keep its caches
        on the first. Here every tensor held in such an attribute (directly or inside dicts, lists and tuples) goes
        through the same ``fn`` as the parameters: the caches follow the model's dtype and device. The cast rounds
        the float32 caches once, as it rounds the weights.
        """
        result = super()._apply(fn, recurse)
        if self.is_prepared:
            for module in self.modules():
                for name, value in list(vars(module).items()):
                    if name in _MODULE_INTERNALS or name == "_inference":
                        continue
                    converted = _map_tensors(value, fn)
                    if converted is not value:
                        module.__dict__[name] = converted
        return result

    @property
    def inference_backend(self) -> str | None:
        """The backend given to :meth:`prepare_for_inference`, ``None`` for a model that was not prepared."""
        state = self.__dict__.get("_inference")
        return None if state is None else state["backend"]

    @property
    def is_prepared(self) -> bool:
        """Whether :meth:`prepare_for_inference` ran (the model is then inference-only)."""
        return "_inference" in self.__dict__

    def _compiled(self, key: str, fn: Any) -> Any:
        """``fn`` itself, or under the ``"compile"`` backend its ``torch.compile`` d version (built once per key)."""
        state = self.__dict__.get("_inference")
        if state is None or state["backend"] != "compile":
            return fn
        if key not in state["compiled"]:
            state["compiled"][key] = torch.compile(fn, dynamic=False)
        return state["compiled"][key]

    def _reject_training(self, what: str) -> None:
        """Raise :class:`PreparedModelError` if the model was prepared for inference."""
        if self.is_prepared:
            raise PreparedModelError(
                f"{type(self).__name__} was prepared for inference (backend {self.inference_backend!r}: weight norm "
                f"folded, inference-only caches derived from the weights); {what} is not allowed. To train, rebuild "
                f"it: vocoders.build(model.config) and load the trained state_dict before prepare_for_inference().")

    def train(self, mode: bool = True) -> "Vocoder":
        """``nn.Module.train``; a prepared model refuses ``mode=True`` (:class:`PreparedModelError`)."""
        if mode:
            self._reject_training("model.train()")
        return super().train(mode)

    # -- training -----------------------------------------------------------------------------------------------
    def training_loss(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training objective of flows (negative log-likelihood) and diffusion models (noise-prediction loss).

        Args:
            audio: ``(B, frames * hop_length)`` target waveform.
            mel: ``(B, n_mels, frames)`` conditioning.

        Returns:
            dict with at least ``"loss"`` (scalar tensor to minimise) and the terms that compose it.
        """
        raise NotImplementedError(f"{type(self).__name__} is trained adversarially; see build_discriminator()")

    # GAN vocoders (family == "gan") implement the four methods below instead of training_loss.
    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        """Differentiable training-time synthesis (GANs): ``(B, n_mels, frames)`` -> ``(B, frames * hop_length)``."""
        raise NotImplementedError

    def build_discriminator(self) -> nn.Module:
        """A fresh discriminator for adversarial training (GANs only).

        Its ``forward(audio)`` takes ``(B, T)`` audio and returns ``(logits, features)``: a list of score tensors
        (one per sub-discriminator) and a list of lists of intermediate feature maps (for feature matching).
        """
        raise NotImplementedError(f"{type(self).__name__} is not a GAN")

    def generator_loss(
        self, real_audio: torch.Tensor, fake_audio: torch.Tensor, mel: torch.Tensor, discriminator: nn.Module
    ) -> dict[str, torch.Tensor]:
        """Generator objective of the model's paper (adversarial + feature matching + mel terms); key ``"loss"``."""
        raise NotImplementedError(f"{type(self).__name__} is not a GAN")

    def discriminator_loss(
        self, real_audio: torch.Tensor, fake_audio: torch.Tensor, discriminator: nn.Module) -> dict[str, torch.Tensor]:
        """Discriminator objective (``fake_audio`` already detached by the caller); key ``"loss"``."""
        raise NotImplementedError(f"{type(self).__name__} is not a GAN")


#: Attributes every ``nn.Module`` has (parameters, buffers, submodules, hooks): converted by ``nn.Module`` itself or
#: holding no tensors; :meth:`Vocoder._apply` leaves them alone.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


def _map_tensors(value: Any, fn: Any) -> Any:
    """``value`` with every tensor inside it (dicts, lists, tuples, nested) replaced by ``fn(tensor)``; the same
    object when it holds no tensor."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        items = {k: _map_tensors(v, fn) for k, v in value.items()}
        if all(items[k] is value[k] for k in value):
            return value
        out = value.copy()  # keeps the mapping's own type (OrderedDict, defaultdict...)
        out.update(items)
        return out
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        items = [_map_tensors(v, fn) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def remove_all_weight_norms(module: nn.Module) -> int:
    """Remove every weight normalisation (old-style hooks and new-style parametrizations) in place.

    Returns:
        the number of weight norms removed.
    """
    from torch.nn.utils import parametrize

    removed = 0
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            names = [type(p).__name__ for p in sub.parametrizations["weight"]]
            if any("WeightNorm" in n or "_WeightNorm" in n for n in names):
                # torch's remove_parametrizations deletes the property from the module's *class*; a deep copy shares
                # that class with its original, which would then lose its ``weight``: give this module its own copy.
                cls = type(sub)
                sub.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
                parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
                removed += 1
        else:
            for hook in list(getattr(sub, "_forward_pre_hooks", {}).values()):
                if type(hook).__name__ == "WeightNorm":
                    torch.nn.utils.remove_weight_norm(sub)
                    removed += 1
                    break
    return removed


def count_parameters(model: nn.Module, weight_norm_gains: bool = True) -> int:
    """Number of trainable parameters.

    Args:
        model: any module.
        weight_norm_gains: count the weight-norm gain tensors ``g`` (one value per output channel). ``False`` gives
            the count after weight-norm removal (the convention of the WaveGlow and HiFi-GAN papers).
    """
    total = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        is_gain = leaf in ("weight_g",) or name.endswith("parametrizations.weight.original0")
        if is_gain and not weight_norm_gains:
            continue
        total += p.numel()
    return total
