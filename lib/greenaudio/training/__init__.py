"""Training of the vocoder zoo (thesis §5.1.3): one resumable, seeded, budgeted trainer for the six families.

Used by: notebooks/05_* (training the 18 configurations, convergence curves of Figure 30 / Appendix B, training
energy), the zoo and WaveFlow study (:mod:`greenaudio.chapters`, :mod:`greenaudio.orchestration`).

- :func:`train` / :class:`TrainConfig` / :class:`TrainResult` – the trainer (GANs: alternating D/G steps with the
  model's own losses; flows and diffusion: ``training_loss``), with step/time/epoch budgets;
- :func:`load_checkpoint` – rebuild a trained model from a checkpoint through the registry (config stored inside);
- :class:`EnergyConfig` (:mod:`~greenaudio.training.energy`) – per-epoch training energy and the full run's energy
  predicted from the first epochs with carbontracker, offline (optional dependency).

Importing this package does not import carbontracker.
"""

from .checkpoint import CheckpointError, compute_code_fingerprint, load_checkpoint, load_training_log
from .config import EnergyConfig, TrainConfig
from .loop import NonFiniteLossError, TrainResult, build_optimizer, seed_everything, train

__all__ = ["train", "TrainConfig", "TrainResult", "EnergyConfig", "seed_everything", "load_checkpoint",
           "load_training_log", "compute_code_fingerprint", "build_optimizer", "NonFiniteLossError", "CheckpointError"]
