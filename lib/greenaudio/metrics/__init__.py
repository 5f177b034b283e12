"""Quality metrics of Chapter 5 (thesis §3.1, Table 7): spectral distance, PESQ, STOI, MOS predictors, IS / AM / FD.

Used by: evaluation notebooks of Chapter 5, tests.

Submodules are imported lazily (on first attribute access), so ``import greenaudio.metrics`` loads neither torch nor
any metric package:

- :mod:`~greenaudio.metrics.spectral` – :func:`compute_d_stft` (Eq. 29–30);
- :mod:`~greenaudio.metrics.intrusive` – :func:`compute_pesq` (narrow/wide band), :func:`compute_stoi`;
- :mod:`~greenaudio.metrics.mos` – :func:`compute_dnsmos`, :func:`compute_distillmos` (predicted MOS);
- :mod:`~greenaudio.metrics.scores` – :func:`compute_inception_score`, :func:`compute_am_score`,
  :func:`compute_frechet_distance` on arrays from any classifier (Eq. 31, 34, 35);
- :mod:`~greenaudio.metrics.classifier` – the project's digit CNN standing in for VGGish (whose weights cannot be
  obtained offline), with training, save/load and :func:`compute_classifier_scores`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "spectral": ("compute_d_stft", "compute_log_power_stft"),
    "intrusive": ("compute_pesq", "compute_stoi"),
    "mos": ("compute_dnsmos", "compute_distillmos"),
    "scores": (),
    "classifier": ("train_digit_classifier", "save_digit_classifier", "load_digit_classifier",
                   "compute_classifier_scores"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _EXPORTS:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__ + list(_EXPORTS))
