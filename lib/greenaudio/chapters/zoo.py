"""The zoo's training protocols (quick, mini, full) and the training of one configuration under one, resumable.

Used by: ``greenaudio train`` and the zoo grid (:mod:`greenaudio.orchestration.zoo`, which trains every configuration,
here or on Ray), notebooks/05_2_quality, :mod:`greenaudio.orchestration.export` (the run folders it exports),
:mod:`greenaudio.chapters.waveflow`; book/running-full-protocol.md (:func:`format_full_protocol_cost`).

The thesis (§5.1.3) gives every configuration of a comparison the same wall-clock budget (120 h on one RTX A5000).
The protocols below keep that rule and change only its scale:

- ``quick``: a few steps per model, for CI (checks that the pipeline runs; the models learn nothing);
- ``mini``: an equal *CPU-time* budget per configuration on one CPU thread (small models 15 min, medium and large
  5 min), sized so that models on a 2-core laptop learn something audible. GANs are warmed up on their
  reconstruction loss before the discriminator joins (ParallelWaveGAN's recipe); in the mini budget on a CPU the
  discriminator never joins (:data:`MINI_DISCRIMINATOR_START_STEP`): a stated deviation from the papers;
- ``full``: the thesis's protocol, 120 h of wall-clock time per model on a GPU.

>>> from greenaudio import data
>>> from greenaudio.chapters import zoo
>>> train, test = data.load_espeak_speech("train"), data.load_espeak_speech("test")
>>> zoo.train_configuration("melgan", "small", "mini", train, test, root="runs")   # resumable: re-run to continue
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

__all__ = ["ZooProtocol", "PROTOCOLS", "get_protocol", "run_directory", "train_configuration", "ZooRun",
           "compute_full_protocol_cost", "format_full_protocol_cost"]

#: ParallelWaveGAN's recipe starts its discriminator after 100k generator steps; the mini protocol keeps that
#: step count, which a 15-CPU-minute budget never reaches (the mini GANs are trained on reconstruction alone).
MINI_DISCRIMINATOR_START_STEP = 100_000


@dataclass(frozen=True)
class ZooProtocol:
    """How every configuration of the zoo is trained.

    Attributes:
        name: ``"quick"``, ``"mini"`` or ``"full"``.
        budget_s: budget per size (in seconds on ``clock``), e.g. ``{"small": 900, "medium": 300, "large": 300}``.
        clock: ``"process"`` (CPU seconds of the training process) or ``"wall"`` (thesis).
        threads: torch CPU threads of the training process (budgets in CPU time are per thread count).
        batch_size: clips per optimisation step.
        crop_frames: training clips are random crops of this many mel frames (``None``: whole clips).
        max_steps: an additional step cap (``None``: the time budget alone).
        val_clips / val_frames: validation on the first clips of the test split, cropped to this many frames.
        validate_every_s: validation period (in budget seconds); ``None``: every epoch (the thesis).
        val_metrics: metrics logged at every validation (names of ``evaluation.VALIDATION_METRICS``).
        discriminator_start_step: GANs: the step at which the discriminator joins (0: from the start).
        device: torch device.
        seed: seeds weights, data order and crops.
    """

    name: str
    budget_s: Mapping[str, float]
    clock: str = "process"
    threads: int = 1
    batch_size: int = 8
    crop_frames: int | None = 16
    max_steps: int | None = None
    val_clips: int = 4
    val_frames: int = 32
    validate_every_s: float | None = 90.0
    val_metrics: tuple[str, ...] = ("d_stft",)
    discriminator_start_step: int = 0
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget_s", dict(self.budget_s))
        object.__setattr__(self, "val_metrics", tuple(self.val_metrics))

    def budget_for(self, size: str) -> float:
        """The budget of a size (in seconds on ``clock``)."""
        if size not in self.budget_s:
            raise ValueError(f"protocol {self.name!r} has no budget for size {size!r}; sizes: {sorted(self.budget_s)}")
        return float(self.budget_s[size])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "ZooProtocol":
        return dataclasses.replace(self, **changes)


PROTOCOLS: dict[str, ZooProtocol] = {
    "quick": ZooProtocol(
        name="quick", budget_s={"small": 60.0, "medium": 60.0, "large": 60.0}, clock="wall", threads=2,
        batch_size=2, crop_frames=16, max_steps=3, val_clips=1, val_frames=32, validate_every_s=None,
        val_metrics=("d_stft", "distillmos"),
    ),
    "mini": ZooProtocol(
        name="mini", budget_s={"small": 900.0, "medium": 300.0, "large": 300.0}, clock="process", threads=1,
        batch_size=8, crop_frames=16, val_clips=4, val_frames=32, validate_every_s=90.0, val_metrics=("d_stft",),
        discriminator_start_step=MINI_DISCRIMINATOR_START_STEP,
    ),
    "full": ZooProtocol(
        name="full", budget_s={"small": 432000.0, "medium": 432000.0, "large": 432000.0}, clock="wall", threads=8,
        batch_size=16, crop_frames=None, val_clips=8, val_frames=64, validate_every_s=None,
        val_metrics=("d_stft", "pesq_nb", "stoi", "distillmos"), device="cuda",
    ),
}


def get_protocol(name: str | ZooProtocol) -> ZooProtocol:
    """A protocol by name (or the protocol itself)."""
    if isinstance(name, ZooProtocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(f"protocol {name!r} is not valid; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


class RandomCropDataset:
    """Random crops of ``frames`` mel frames (and the matching audio) of every item of a speech dataset.

    The offset is drawn from torch's global generator, which the trainer seeds and saves in every checkpoint, so a
    resumed run draws the same crops as an uninterrupted one.
    """

    def __init__(self, dataset, frames: int, hop_length: int = 256):
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be a positive integer, got {frames!r}")
        self.dataset, self.frames, self.hop_length = dataset, frames, hop_length

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        audio, mel = self.dataset[i]
        n = mel.shape[-1]
        if n < self.frames:
            raise ValueError(f"item {i} has {n} frames, fewer than frames={self.frames}")
        start = int(torch.randint(0, n - self.frames + 1, ())) if n > self.frames else 0
        a = start * self.hop_length
        return audio[a:a + self.frames * self.hop_length], mel[..., start:start + self.frames]


def corpus_fingerprint(train_set) -> dict[str, Any]:
    """What identifies a prepared training corpus in a run's folder name and record: its name, clips kept, training
    clips, the normaliser's range and the samples (a run trained on another corpus gets another folder)."""
    report = train_set.report
    return {"corpus": report.corpus, "kept": report.n_kept, "train": len(train_set),
            "normalizer": [float(train_set.normalizer.minimum), float(train_set.normalizer.maximum)],
            "n_samples": int(train_set.n_samples)}


def run_directory(root: str | Path, protocol: ZooProtocol, name: str, size: str, model_config: Mapping[str, Any],
                  corpus: Mapping[str, Any]) -> Path:
    """The run folder of one configuration: named by a hash of everything that changes the trained weights.

    The code is deliberately *not* part of the key (an edit elsewhere must not throw away hours of training); the
    code commit and fingerprint are recorded in the run's ``zoo_run.json`` instead.
    """
    settings = {"protocol": protocol.to_dict(), "model": dict(model_config), "corpus": dict(corpus),
                "budget_s": protocol.budget_for(size)}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(root) / protocol.name / f"{name}-{size}-{key}"


@dataclass(frozen=True)
class ZooRun:
    """One configuration's training under a protocol: its folder and outcome (``result`` is a TrainResult)."""

    model: str
    size: str
    run_dir: Path
    result: Any = field(repr=False)  # a TrainResult; from the zoo grid, the cell's ZooCellRecord
    wall_s: float = 0.0


def _train_config(protocol: ZooProtocol, run_dir: Path, size: str, progress: bool):
    from ..training import TrainConfig

    return TrainConfig(
        run_dir=str(run_dir), seed=protocol.seed, batch_size=protocol.batch_size, max_steps=protocol.max_steps,
        max_time_s=protocol.budget_for(size), clock=protocol.clock, validate_every_s=protocol.validate_every_s,
        validate_every_steps=1 if protocol.name == "quick" else None, metric_batches=1,
        checkpoint_every_steps=None, checkpoint_every_s=120.0 if protocol.name != "quick" else None,
        device=protocol.device, progress=progress, discriminator_start_step=protocol.discriminator_start_step,
        checkpoint_state="weights" if protocol.name == "quick" else "full",
    )


def train_configuration(name: str, size: str, protocol: str | ZooProtocol, train_set, test_set, *,
                        root: str | Path, progress: bool = True) -> ZooRun:
    """Train (or resume, or reuse) one configuration under ``protocol``; writes ``zoo_run.json`` when done."""
    from .. import evaluation, vocoders
    from ..training import compute_code_fingerprint, seed_everything, train

    protocol = get_protocol(protocol)
    torch.set_num_threads(protocol.threads)
    seed_everything(protocol.seed)
    model = vocoders.load(name, size)
    corpus = corpus_fingerprint(train_set)
    run_dir = run_directory(root, protocol, name, size, model.config.to_dict(), corpus)
    data = RandomCropDataset(train_set, protocol.crop_frames) if protocol.crop_frames else train_set
    val = evaluation.CroppedDataset(test_set, protocol.val_frames, indices=range(protocol.val_clips))
    metrics = evaluation.make_validation_metrics(protocol.val_metrics)
    started = time.perf_counter()
    result = train(model, data, val, _train_config(protocol, run_dir, size, progress), metrics=metrics)
    wall = time.perf_counter() - started
    from ..training.checkpoint import write_json

    summary_path = run_dir / "zoo_run.json"
    previous = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    write_json(summary_path, {
        "model": name, "size": size, "protocol": protocol.to_dict(), "corpus": corpus,
        "step": result.step, "budget_elapsed_s": result.elapsed_s, "clock": protocol.clock,
        "stop_reason": result.stop_reason, "seconds_per_step": result.seconds_per_step,
        "wall_s_total": float(previous.get("wall_s_total", 0.0)) + wall, "threads": protocol.threads,
        "torch": torch.__version__, "code_fingerprint": compute_code_fingerprint(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return ZooRun(name, size, run_dir, result, wall)


# -- the cost of the full protocol (book/running-full-protocol.md) ---------------------------------------------
#: GPUs of the cost table (names of :func:`greenaudio.carbon.list_hardware`): the thesis's and two current ones.
COST_GPUS = ("RTX A5000", "A100 SXM4 80GB", "H100 SXM5")
#: Grids of the cost table (names of :func:`greenaudio.carbon.list_grids`).
COST_GRIDS = ("france", "thesis-world-2018", "india")


def compute_full_protocol_cost(gpus: Sequence[str] = COST_GPUS, grids: Sequence[str] = COST_GRIDS, *,
                               n_configurations: int = 18, hours_per_configuration: float | None = None,
                               pue: str | float = "none"):
    """Energy and emissions of the full protocol: training every configuration on one GPU, plus the benchmark.

    Training: ``n_configurations`` x the ``full`` protocol's budget (120 h, thesis §5.1.3) on one GPU each.
    Benchmark: the thesis protocol (10 clips x 10 s, one warm-up and three timed runs) for the 18 configurations at
    the GPU real-time factors printed in Table 8 (RTX A5000), applied to every GPU (an upper bound for faster ones).
    Energy is the thesis's worst case (Eq. 48: one GPU at its catalogue maximum power for the whole time, times the
    PUE); emissions are energy x grid intensity (:mod:`greenaudio.carbon`).

    Returns:
        DataFrame ``gpu, power_w, grid, kgco2e_per_kwh, pue, training_gpu_h, benchmark_gpu_h, energy_kwh,
        emissions_kgco2e, method``.
    """
    import pandas as pd

    from .. import carbon, published
    from ..measure.protocol import THESIS_PROTOCOL
    from ..validation import check_positive_int, check_positive_number

    n_configurations = check_positive_int("n_configurations", n_configurations)
    hours = (PROTOCOLS["full"].budget_for("small") / 3600.0 if hours_per_configuration is None
             else check_positive_number("hours_per_configuration", hours_per_configuration))
    table8 = published.load_vocoder_costs()
    runs = THESIS_PROTOCOL.warmup + THESIS_PROTOCOL.repeats
    audio_s = THESIS_PROTOCOL.n_clips * THESIS_PROTOCOL.clip_duration_s
    benchmark_h = float(table8["rtf_gpu"].astype(float).sum()) * audio_s * runs / 3600.0
    training_h = n_configurations * hours
    pue_value = carbon._pue(pue)
    rows = []
    for gpu in gpus:
        spec = carbon.get_hardware(gpu)
        if spec.kind != "gpu":
            raise ValueError(f"{gpu!r} is a {spec.kind}, not a GPU; GPUs: {carbon.list_hardware('gpu')}")
        energy = pue_value * carbon.compute_worst_case_energy_kwh(spec, 1, training_h + benchmark_h)
        for grid in grids:
            g = carbon.get_grid(grid)
            rows.append({"gpu": spec.name, "power_w": spec.max_power_w, "grid": g.name,
                         "kgco2e_per_kwh": g.kgco2e_per_kwh, "pue": pue_value, "training_gpu_h": training_h,
                         "benchmark_gpu_h": benchmark_h, "energy_kwh": energy,
                         "emissions_kgco2e": carbon.compute_emissions_kgco2e(energy, g),
                         "method": "estimated: catalogue max power x time (thesis Eq. 48) x PUE x grid intensity"})
    return pd.DataFrame(rows)


def format_full_protocol_cost(table=None) -> str:
    """The cost table as Markdown (the book page's table is this text; a test compares them)."""
    table = compute_full_protocol_cost() if table is None else table
    # The GPU hours (training and benchmark) are the same on every row: the page states them once, above the table.
    lines = ["| GPU | Maximum power (W) | Grid | Intensity (kgCO2e/kWh) | Energy (kWh) | Emissions (kgCO2e) |",
             "|---|---:|---|---:|---:|---:|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.gpu} | {r.power_w:.0f} | {r.grid} | {r.kgco2e_per_kwh:.3f} | {r.energy_kwh:.1f} | "
                     f"{r.emissions_kgco2e:.1f} |")
    return "\n".join(lines)
