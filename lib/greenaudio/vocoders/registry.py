"""Registry of the vocoder zoo: names, size presets and construction.

Used by: every notebook of Chapter 5, greenaudio.measure (``greenaudio bench``), greenaudio.training.

Each model module registers itself with :func:`register`, giving its model class, its config class and a dict of
named presets (``small`` / ``medium`` / ``large`` as in the thesis's Table 8, plus the papers' own variants).
Registration is explicit: ``greenaudio.vocoders.__init__`` imports the model modules, nothing is discovered by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..validation import check_choice, check_positive_int
from .base import Vocoder, VocoderConfig

__all__ = ["ModelEntry", "register", "check_common_fields", "names", "sizes", "config_for", "build", "load",
           "THESIS_SIZES"]

THESIS_SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model family."""

    name: str
    display_name: str
    family: str
    model_class: type[Vocoder]
    config_class: type[VocoderConfig]
    presets: Mapping[str, VocoderConfig]
    notes: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add a model family to the registry (called once by each model module)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is already registered")
    for size, cfg in entry.presets.items():
        if cfg.model != entry.name or cfg.size != size:
            raise ValueError(f"preset {entry.name}/{size} has model={cfg.model!r}, size={cfg.size!r}")
    _REGISTRY[entry.name] = entry
    return entry


def _entry(name: str) -> ModelEntry:
    try:
        key = check_choice("model", name, names())
    except ValueError:
        raise ValueError(f"unknown model {name!r}; valid models: {names()} (case-insensitive)") from None
    return _REGISTRY[key]


def check_common_fields(config: VocoderConfig) -> VocoderConfig:
    """Validate the fields every model shares (``sample_rate``, ``n_mels``, ``hop_length``, integers >= 1).

    Raises:
        ValueError: naming the field, its valid range and the bad value (``n_mels=0`` would otherwise build a
            model with zero input channels, ``n_mels="80"`` would fail deep inside torch).
    """
    for name in ("sample_rate", "n_mels", "hop_length"):
        check_positive_int(name, getattr(config, name))
    return config


def names() -> list[str]:
    """Registered model names, in the thesis's order."""
    order = ["melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"]
    return sorted(_REGISTRY, key=lambda n: (order.index(n) if n in order else len(order), n))


def entry(name: str) -> ModelEntry:
    """The registry entry (classes, presets, display name) of a model."""
    return _entry(name)


def sizes(name: str) -> list[str]:
    """Preset names of a model: the thesis's three sizes first, then the papers' variants."""
    presets = _entry(name).presets
    return [s for s in THESIS_SIZES if s in presets] + sorted(s for s in presets if s not in THESIS_SIZES)


def config_for(name: str, size: str, **overrides: Any) -> VocoderConfig:
    """The typed config of a preset, optionally with some fields overridden (the result has size ``"custom"``)."""
    e = _entry(name)
    try:
        cfg = e.presets[check_choice("size", size, sizes(e.name))]
    except ValueError:
        raise ValueError(
            f"unknown size {size!r} for model {e.name!r}; valid sizes: {sizes(e.name)} (case-insensitive)"
        ) from None
    if overrides:
        valid = set(cfg.to_dict())
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown} for {name}; valid fields: {sorted(valid)}")
        for key in ("sample_rate", "n_mels", "hop_length"):
            if key in overrides:  # plain ints: np.int64 would not survive the JSON config beside a checkpoint
                overrides[key] = check_positive_int(key, overrides[key])
        cfg = cfg.replace(size="custom", **overrides)
    return check_common_fields(cfg)


def build(config: VocoderConfig | Mapping[str, Any]) -> Vocoder:
    """Instantiate a model from its config (a config object or its ``to_dict()`` form).

    Raises:
        ValueError: ``config`` is neither a :class:`VocoderConfig` nor a mapping, names an unknown model (the
            message lists the valid ones), or has an invalid ``sample_rate``, ``n_mels`` or ``hop_length``.
    """
    if isinstance(config, Mapping):
        e = _entry(config.get("model", ""))
        config = e.config_class.from_dict(config)
    if not isinstance(config, VocoderConfig):
        raise ValueError(
            f"config must be a VocoderConfig (from config_for(name, size)) or its to_dict() mapping, got "
            f"{type(config).__name__}; valid models: {names()}")
    e = _entry(config.model)
    if not isinstance(config, e.config_class):
        raise ValueError(f"config of type {type(config).__name__} does not belong to model {config.model!r}")
    return e.model_class(check_common_fields(config))


def load(name: str, size: str = "medium", **overrides: Any) -> Vocoder:
    """Build a preset model with freshly initialised weights (``load("hifigan", "small")``)."""
    return build(config_for(name, size, **overrides))


def iter_presets(models: list[str] | None = None, preset_sizes: tuple[str, ...] = THESIS_SIZES):
    """Yield ``(name, size)`` for the thesis's 18 configurations (or a subset)."""
    for name in models or names():
        for size in preset_sizes:
            if size in _entry(name).presets:
                yield name, size


Factory = Callable[[VocoderConfig], Vocoder]
