"""Settings of a training run (budgets, checkpointing, validation, energy tracking).

Used by: :mod:`greenaudio.training.loop`, notebooks/05_*.

The thesis (§5.1.3) trains every model for at most 120 hours on one GPU; :meth:`TrainConfig.thesis` reproduces that
budget and :meth:`TrainConfig.quick` gives a minutes-long smoke run for all 18 configurations on a CPU.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

from ..validation import check_int, check_non_negative_int, check_positive_int, check_positive_number, is_bool

__all__ = ["TrainConfig", "EnergyConfig"]

#: Thesis §5.1.3: "a maximum time budget of 120 hours on a single NVIDIA RTX A5000 GPU" (in seconds).
THESIS_TIME_BUDGET_S = 120 * 3600.0
#: Thesis §4.2.2, Eq. 48: 0.437 kgCO2eq/kWh, "global yearly average of 2018" (no primary source found).
THESIS_INTENSITY_KG_PER_KWH = 0.437

_RESUME_CHOICES = ("auto", "never", "require")
_CLOCKS = ("wall", "process")
_CHECKPOINT_STATES = ("full", "weights")


@dataclass(frozen=True)
class EnergyConfig:
    """How the training energy is recorded with carbontracker, run offline.

    carbontracker samples component power in a thread and multiplies the mean power by each epoch's duration and by
    a PUE; after ``epochs_before_pred`` epochs it predicts the full run's energy linearly (N x mean epoch energy).
    Offline, the geolocation lookup is stubbed and the carbon intensity and PUE are set explicitly here.

    Args:
        epochs_before_pred: k, the number of first epochs the prediction is extrapolated from (thesis: 1).
        total_epochs: N, the epochs of the full run to predict for. ``None``: derived from the run's epoch or step
            budget, or, under a time budget only, ``floor(max_time_s / mean epoch duration)`` after k epochs.
        components: carbontracker components, ``"cpu"``, ``"gpu"``, ``"gpu,cpu"`` or ``"all"``.
        pue: power usage effectiveness applied by carbontracker (its own default is 1.58, Uptime Institute 2023).
        intensity_g_per_kwh: carbon intensity used to convert energy to CO2 (in gCO2eq/kWh).
        intensity_source: where ``intensity_g_per_kwh`` comes from (recorded with the result).
        update_interval_s: carbontracker's power sampling period (in seconds).
        sim_gpu_name / sim_gpu_watts / sim_gpu_util: simulate a GPU of constant power (carbontracker's ``sim_gpu*``:
            the power used is ``sim_gpu_watts * sim_gpu_util``, in watts). For tests and for the thesis's worst-case
            assumption (TDP of the A5000) on machines without the GPU.
        sim_cpu_name / sim_cpu_tdp_w / sim_cpu_util: same for the CPU.
        log_subdir: carbontracker's log directory, relative to the run directory.
    """

    epochs_before_pred: int = 1
    total_epochs: int | None = None
    components: str = "all"
    pue: float = 1.0
    intensity_g_per_kwh: float = THESIS_INTENSITY_KG_PER_KWH * 1000.0
    intensity_source: str = "thesis §4.2.2 Eq. 48: 0.437 kgCO2eq/kWh, 2018 global average (no primary source given)"
    update_interval_s: float = 1.0
    sim_gpu_name: str | None = None
    sim_gpu_watts: float | None = None
    sim_gpu_util: float = 1.0
    sim_cpu_name: str | None = None
    sim_cpu_tdp_w: float | None = None
    sim_cpu_util: float = 1.0
    log_subdir: str = "carbontracker"

    def __post_init__(self) -> None:
        # numpy scalars are accepted and stored as plain Python numbers (the config is saved as JSON)
        object.__setattr__(self, "epochs_before_pred", _checked(
            "epochs_before_pred", self.epochs_before_pred, check_positive_int, "an integer >= 1"))
        if self.total_epochs is not None:
            object.__setattr__(self, "total_epochs", _checked(
                "total_epochs", self.total_epochs, check_positive_int, "None or an integer >= 1"))
        valid = ("all", "cpu", "gpu", "gpu,cpu", "cpu,gpu")
        if not isinstance(self.components, str) or self.components.replace(" ", "").lower() not in valid:
            raise ValueError(f"components={self.components!r} is not valid; choose one of {list(valid)}")
        for name in ("pue", "intensity_g_per_kwh", "update_interval_s"):
            object.__setattr__(self, name, _checked(name, getattr(self, name), check_positive_number,
                                                    "a finite number > 0"))
        for name in ("sim_gpu_watts", "sim_cpu_tdp_w"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _checked(name, getattr(self, name), check_positive_number,
                                                        "None or a finite number > 0"))
        for name in ("sim_gpu_util", "sim_cpu_util"):
            object.__setattr__(self, name, _checked(name, getattr(self, name), check_positive_number,
                                                    "a finite number > 0"))
        if (self.sim_gpu_name is None) != (self.sim_gpu_watts is None):
            raise ValueError("sim_gpu_name and sim_gpu_watts go together (both set or both None)")
        if (self.sim_cpu_name is None) != (self.sim_cpu_tdp_w is None):
            raise ValueError("sim_cpu_name and sim_cpu_tdp_w go together (both set or both None)")


def _checked(name: str, value: Any, check: Any, what: str) -> Any:
    """``check(name, value)`` (a greenaudio.validation function), its ValueError worded as ``name must be what``."""
    try:
        return check(name, value)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {value!r}") from None


def _positive_seconds(name: str, value: Any) -> int | float:
    """A duration > 0 (``inf``: no limit, as ``value > 0`` always allowed), kept an ``int`` when given as one."""
    if is_bool(value) or not isinstance(value, numbers.Real) or not float(value) > 0:
        raise ValueError(name)
    return int(value) if isinstance(value, numbers.Integral) else float(value)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. At least one budget (steps, time or epochs) is required.

    Args:
        run_dir: directory of checkpoints, config, logs and energy records.
        seed: seeds python ``random``, numpy, torch and the data order.
        batch_size: examples per optimisation step (recorded with every log record).
        max_steps: step budget (one step = one optimiser update; GANs: one D and one G update).
        max_time_s: wall-clock budget (in seconds) of the training process, validation and checkpointing included,
            accumulated over resumes (thesis: 120 h = 432,000 s).
        max_epochs: epoch budget (one epoch = one pass over the training set, incomplete batches dropped).
        checkpoint_every_steps: save a checkpoint every this many steps (``None``: only at the end / by time).
        checkpoint_every_s: also save when this much wall-clock time (in seconds) passed since the last save.
        validate_every_steps: validate every this many steps; ``None``: at the end of every epoch (thesis).
        validate_at_end: also validate when a budget stops the run.
        metric_batches: validation batches on which metric callables are computed (``None``: all).
        val_procedure: keyword arguments of ``generate`` for metric callables on flows and diffusion models.
        device: torch device of model and data.
        num_workers: DataLoader worker processes (0 keeps everything in the training process).
        resume: ``"auto"`` (continue from ``last.pt`` if present), ``"never"`` (refuse a directory that has one),
            ``"require"`` (fail if there is none).
        progress: show tqdm progress bars for training and evaluation.
        clock: what the time budget counts: ``"wall"`` (wall-clock seconds, the thesis's rule) or ``"process"``
            (CPU seconds of the training process, ``time.process_time``): on a shared CPU, where other work slows a
            run down, a process-time budget gives every configuration the same amount of computation.
        validate_every_s: validate when this much budget time (in seconds, on ``clock``) passed since the last
            validation (convergence curves over time for runs whose step rates differ by 100x); when set, the
            end of an epoch no longer triggers a validation by itself.
        discriminator_start_step: GANs only: the discriminator joins at this step (ParallelWaveGAN's
            ``discriminator_train_start_steps``); before it the generator minimises the model's
            ``reconstruction_loss`` alone. 0 (default): adversarial from the first step, as the papers do.
        checkpoint_state: ``"full"`` (default) keeps optimiser, scheduler and discriminator states so that a resumed
            run continues exactly; ``"weights"`` keeps the model's weights, step, logs and RNG only (about a third
            of the size for Adam, far less for GANs, whose discriminators are large): a resume then restarts the
            optimiser and, for GANs, the discriminator. Meant for short runs (quick mode) whose checkpoints are kept.
    """

    run_dir: str
    seed: int = 0
    batch_size: int = 16
    max_steps: int | None = None
    max_time_s: float | None = None
    max_epochs: int | None = None
    checkpoint_every_steps: int | None = 1000
    checkpoint_every_s: float | None = 1800.0
    validate_every_steps: int | None = None
    validate_at_end: bool = True
    metric_batches: int | None = None
    val_procedure: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    device: str = "cpu"
    num_workers: int = 0
    resume: str = "auto"
    progress: bool = True
    checkpoint_state: str = "full"
    clock: str = "wall"
    validate_every_s: float | None = None
    discriminator_start_step: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", str(self.run_dir))
        object.__setattr__(self, "val_procedure", dict(self.val_procedure))
        if self.max_steps is None and self.max_time_s is None and self.max_epochs is None:
            raise ValueError("give at least one budget: max_steps, max_time_s or max_epochs")
        # greenaudio.validation's rules (numpy scalars accepted, booleans, strings and floats-for-counts rejected);
        # the stored values are plain Python ones, as train_config.json and every checkpoint record them.
        for name in ("batch_size", "max_steps", "max_epochs", "checkpoint_every_steps", "validate_every_steps",
                     "metric_batches"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _checked(name, value, check_positive_int, "a positive integer or None"))
        object.__setattr__(self, "seed", _checked("seed", self.seed, check_int, "an integer"))
        if self.clock not in _CLOCKS:
            raise ValueError(f"clock={self.clock!r} is not valid; choose one of {list(_CLOCKS)}")
        object.__setattr__(self, "discriminator_start_step", _checked(
            "discriminator_start_step", self.discriminator_start_step, check_non_negative_int, "an integer >= 0"))
        for name in ("max_time_s", "checkpoint_every_s", "validate_every_s"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _checked(name, value, _positive_seconds,
                                                        "a number > 0 (seconds) or None"))
        object.__setattr__(self, "num_workers", _checked("num_workers", self.num_workers, check_non_negative_int,
                                                         "an integer >= 0"))
        if self.resume not in _RESUME_CHOICES:
            raise ValueError(f"resume={self.resume!r} is not valid; choose one of {list(_RESUME_CHOICES)}")
        if self.checkpoint_state not in _CHECKPOINT_STATES:
            raise ValueError(
                f"checkpoint_state={self.checkpoint_state!r} is not valid; choose one of {list(_CHECKPOINT_STATES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (saved as ``train_config.json`` and inside every checkpoint)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (e.g. a larger budget to continue a finished run)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def thesis(cls, run_dir: str, **overrides: Any) -> "TrainConfig":
        """The thesis's budget (§5.1.3): 120 h of wall-clock time on one GPU, validation every epoch."""
        values: dict[str, Any] = dict(max_time_s=THESIS_TIME_BUDGET_S, device="cuda", checkpoint_every_s=1800.0)
        values.update(overrides)
        return cls(run_dir=run_dir, **values)

    @classmethod
    def quick(cls, run_dir: str, **overrides: Any) -> "TrainConfig":
        """A smoke run of a few seconds per model on CPU (all 18 configurations in minutes): 10 steps or 20 s."""
        values: dict[str, Any] = dict(
            max_steps=10, max_time_s=20.0, batch_size=2, checkpoint_every_steps=5, checkpoint_every_s=None,
            validate_every_steps=5, metric_batches=1,
        )
        values.update(overrides)
        return cls(run_dir=run_dir, **values)
