"""The uniform interface every vocoder of the zoo implements.

Used by: notebooks/05_0_models.ipynb, notebooks/05_1_cost_benchmark.ipynb, greenaudio.measure, greenaudio.training.

Every model maps a normalised log-mel spectrogram ``(B, n_mels, frames)`` to a waveform ``(B, frames * hop_length)``
through ``generate(mel, **procedure)``. The *procedure* (diffusion steps, flow sigma, noise schedule, fast or plain
reverse) is an explicit keyword argument, validated, and echoed back in the returned :class:`Generation` so that cost
measurements can record exactly what ran.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from ..validation import check_choice, check_non_negative_number, check_positive_int

__all__ = [
    "Generation",
    "OptimizerConfig",
    "Vocoder",
    "VocoderConfig",
    "validate_mel",
    "model_dtype",
    "check_positive_int",
    "check_non_negative_float",
    "check_choice",
    "remove_all_weight_norms",
    "count_parameters",
    "INFERENCE_BACKENDS",
    "PreparedModelError",
    "available_backends",
    "check_backend",
]

#: Backends of :meth:`Vocoder.prepare_for_inference`: ``"torch"`` (eager PyTorch with the family's inference-only
#: rewrites, the default), ``"compile"`` (the same, with the network called in the loop compiled by
#: ``torch.compile``; needs a C++ compiler), ``"onnxruntime"`` (that network exported to an fp32 ONNX graph and run by
#: ONNX Runtime; the loops stay in Python).
INFERENCE_BACKENDS = ("torch", "compile", "onnxruntime")


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
            raise ValueError(
                f"mel must be a floating-point array (a normalised log-mel), got numpy dtype {mel.dtype}"
            )
        mel = torch.as_tensor(np.ascontiguousarray(mel))
    if not isinstance(mel, torch.Tensor):
        raise ValueError(
            f"mel must be a torch.Tensor or numpy array of shape (B, {n_mels}, frames), got {type(mel).__name__}"
        )
    if mel.dim() == 2:
        mel = mel.unsqueeze(0)
    if mel.dim() != 3:
        raise ValueError(
            f"mel must have shape (B, {n_mels}, frames) or ({n_mels}, frames), got {tuple(mel.shape)}"
        )
    if mel.shape[1] != n_mels:
        raise ValueError(f"mel has {mel.shape[1]} bands, this model expects {n_mels} (shape {tuple(mel.shape)})")
    if mel.shape[2] < 1:
        raise ValueError(f"mel has no frames (shape {tuple(mel.shape)}); frames must be >= 1")
    if not torch.is_floating_point(mel):
        raise ValueError(
            f"mel must be a floating-point tensor (float32, float64, float16 or bfloat16), got dtype {mel.dtype}"
        )
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
                f"unknown procedure argument(s) {unknown} for {type(self).__name__}; valid: {sorted(resolved)}"
            )
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
            if state is not None and state["backend"] == "onnxruntime":
                audio = state["runner"].run(mel, generator, resolved)
            else:
                audio = self._generate(mel, generator=generator, **resolved)
        if audio.dim() != 2 or audio.shape[-1] != expected:
            raise RuntimeError(
                f"{type(self).__name__} produced audio of shape {tuple(audio.shape)}, expected (B, {expected})"
            )
        return Generation(audio=audio, procedure=resolved, sample_rate=self.sample_rate)

    def _generate(self, mel: torch.Tensor, *, generator: torch.Generator | None, **procedure: Any) -> torch.Tensor:
        raise NotImplementedError

    def prepare_for_inference(self, backend: str = "torch") -> "Vocoder":
        """Turn the model into an inference-only model; returns ``self`` (eval mode).

        Always: weight normalisation removed (folded into the weights), eval mode, and the family's inference-only
        rewrites (:meth:`_prepare_family`: step-independent conditioning computed once per ``generate`` call,
        memory-lean conditioning, in-place accumulation; see each family's docstring). Outputs equal the plain path's to float32 rounding (the tests
        hold every configuration to an absolute difference below 1e-4 on unit-scale audio).

        Args:
            backend: one of :data:`INFERENCE_BACKENDS`: ``"torch"`` (default), ``"compile"`` (``torch.compile`` of
                the network called in the loop; compiled on the first call for each input shape, which takes
                minutes on a small CPU) or ``"onnxruntime"`` (that network exported to fp32 ONNX graphs with
                :mod:`greenaudio.quantization.graphs`, run by ONNX Runtime with as many intra-op threads as
                :func:`torch.get_num_threads` gives at preparation; loops in Python).

        Afterwards ``model.train()``, the training losses and a GAN ``forward`` with gradients enabled raise
        :class:`PreparedModelError`: the weights have been rewritten for inference, gradients through them would
        not be those of the trained parametrisation. Rebuild with ``vocoders.build(model.config)`` to train.

        Raises:
            ValueError: unknown backend, or one unavailable on this machine (the message names the available ones).
        """
        backend = check_backend(backend)
        self.__dict__.pop("_inference", None)  # re-preparing: allowed, starts from the torch state
        remove_all_weight_norms(self)
        self.eval()
        with torch.no_grad():
            self._prepare_family()
        state: dict[str, Any] = {"backend": backend, "runner": None, "compiled": {}}
        self.__dict__["_inference"] = state  # a plain dict: compiled modules and sessions stay out of state_dict
        if backend == "onnxruntime":
            from ._inference_backends import OnnxRunner

            state["runner"] = OnnxRunner(self)
            self.__dict__["_inference"] = state  # the graph split re-prepares the torch model: restore
        return self

    def _prepare_family(self) -> None:
        """Family hook of :meth:`prepare_for_inference` (caches, fused weights); runs under ``torch.no_grad``."""

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
                f"it: vocoders.build(model.config) and load the trained state_dict before prepare_for_inference()."
            )

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
        self, real_audio: torch.Tensor, fake_audio: torch.Tensor, discriminator: nn.Module
    ) -> dict[str, torch.Tensor]:
        """Discriminator objective (``fake_audio`` already detached by the caller); key ``"loss"``."""
        raise NotImplementedError(f"{type(self).__name__} is not a GAN")


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
