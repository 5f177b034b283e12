"""Registry of the vocoder zoo: names, size presets and construction.

Used by: every notebook of Chapter 5, greenaudio.measure (``greenaudio bench``), greenaudio.training.

Each model module registers itself with :func:`register`, giving its model class, its config class and a dict of
named presets (``small`` / ``medium`` / ``large`` as in the thesis's Table 8, plus the papers' own variants).
Registration is explicit: ``greenaudio.vocoders.__init__`` imports the model modules, nothing is discovered by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .base import Vocoder, VocoderConfig

__all__ = ["ModelEntry", "register", "names", "sizes", "config_for", "build", "load", "THESIS_SIZES"]

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
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models: {names()}")
    return _REGISTRY[key]


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
    if size not in e.presets:
        raise ValueError(f"unknown size {size!r} for model {name!r}; valid sizes: {sizes(name)}")
    cfg = e.presets[size]
    if overrides:
        valid = set(cfg.to_dict())
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown} for {name}; valid fields: {sorted(valid)}")
        cfg = cfg.replace(size="custom", **overrides)
    return cfg


def build(config: VocoderConfig | Mapping[str, Any]) -> Vocoder:
    """Instantiate a model from its config (a config object or its ``to_dict()`` form)."""
    if isinstance(config, Mapping):
        e = _entry(config.get("model", ""))
        config = e.config_class.from_dict(config)
    e = _entry(config.model)
    if not isinstance(config, e.config_class):
        raise ValueError(f"config of type {type(config).__name__} does not belong to model {config.model!r}")
    return e.model_class(config)


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
