"""Training of the vocoder zoo (thesis §5.1.3): one resumable, seeded, budgeted trainer for the six families.

Used by: notebooks/05_* (training the 18 configurations, convergence curves of Figure 30 / Appendix B, training
energy), ``greenaudio.measure`` (energy windows per epoch).

- :func:`train` / :class:`TrainConfig` / :class:`TrainResult` – the trainer (GANs: alternating D/G steps with the
  model's own losses; flows and diffusion: ``training_loss``), with step/time/epoch budgets;
- :func:`load_checkpoint` – rebuild a trained model from a checkpoint through the registry (config stored inside);
- :class:`EnergyConfig` / :class:`CarbonTrackerEnergy` / :class:`EnergyPrediction` – per-epoch training energy and
  the full run's energy predicted from the first epochs with carbontracker, offline (optional dependency).

Importing this package does not import carbontracker.
"""

from .checkpoint import (
    CheckpointError,
    LoadedCheckpoint,
    atomic_write_bytes,
    atomic_write_text,
    compute_code_fingerprint,
    load_checkpoint,
    load_training_log,
    save_checkpoint,
    save_training_log,
)
from .config import THESIS_INTENSITY_KG_PER_KWH, THESIS_TIME_BUDGET_S, EnergyConfig, TrainConfig
from .energy import (
    PREDICTION_METHOD,
    CarbonTrackerEnergy,
    EnergyPrediction,
    EpochEnergyTracker,
    compute_linear_prediction_kwh,
    detect_host_type,
    read_energy_window,
)
from .loop import NonFiniteLossError, TrainResult, build_optimizer, build_scheduler, seed_everything, train

__all__ = [
    "CheckpointError",
    "LoadedCheckpoint",
    "atomic_write_bytes",
    "atomic_write_text",
    "compute_code_fingerprint",
    "load_checkpoint",
    "load_training_log",
    "save_checkpoint",
    "save_training_log",
    "THESIS_INTENSITY_KG_PER_KWH",
    "THESIS_TIME_BUDGET_S",
    "EnergyConfig",
    "TrainConfig",
    "PREDICTION_METHOD",
    "CarbonTrackerEnergy",
    "EnergyPrediction",
    "EpochEnergyTracker",
    "compute_linear_prediction_kwh",
    "detect_host_type",
    "read_energy_window",
    "NonFiniteLossError",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "seed_everything",
    "train",
]
