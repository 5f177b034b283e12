"""Experiments: the chapters' protocols as library calls (train the zoo, export and verify its artefacts).

- :mod:`greenaudio.experiments.zoo` – the zoo trained under a named protocol (quick, mini, full), resumable.

Importing this package imports neither torch-heavy models nor the metrics; each submodule is importable alone.
"""

__all__ = ["zoo"]
