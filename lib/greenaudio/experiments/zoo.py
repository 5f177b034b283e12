"""Training the vocoder zoo under a named protocol (quick, mini, full), resumable configuration by configuration.

Used by: ``greenaudio train``, notebooks/05_2_quality, :mod:`greenaudio.experiments.artefacts`.

The thesis (§5.1.3) gives every configuration of a comparison the same wall-clock budget (120 h on one RTX A5000).
The protocols below keep that rule and change only its scale:

- ``quick``: a few steps per model, for CI (checks that the pipeline runs; the models learn nothing);
- ``mini``: an equal *CPU-time* budget per configuration on one CPU thread (small models 15 min, medium and large
  5 min), sized so that models on a 2-core laptop learn something audible. GANs are warmed up on their
  reconstruction loss before the discriminator joins (ParallelWaveGAN's recipe); in the mini budget on a CPU the
  discriminator never joins (:data:`MINI_DISCRIMINATOR_START_STEP`): a stated deviation from the papers;
- ``full``: the thesis's protocol, 120 h of wall-clock time per model on a GPU.

>>> from greenaudio.experiments import zoo
>>> zoo.train_zoo("mini", sizes=["small"])          # resumable: re-run to continue
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

__all__ = [
    "ZooProtocol",
    "PROTOCOLS",
    "MINI_DISCRIMINATOR_START_STEP",
    "RandomCropDataset",
    "get_protocol",
    "run_directory",
    "train_configuration",
    "train_zoo",
    "ZooRun",
]

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


def _corpus_fingerprint(train_set) -> dict[str, Any]:
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
    result: Any = field(repr=False)  # a TrainResult; on a Ray cluster the cell's cluster.ZooCellRecord
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
    run_dir = run_directory(root, protocol, name, size, model.config.to_dict(), _corpus_fingerprint(train_set))
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
        "model": name, "size": size, "protocol": protocol.to_dict(), "corpus": _corpus_fingerprint(train_set),
        "step": result.step, "budget_elapsed_s": result.elapsed_s, "clock": protocol.clock,
        "stop_reason": result.stop_reason, "seconds_per_step": result.seconds_per_step,
        "wall_s_total": float(previous.get("wall_s_total", 0.0)) + wall, "threads": protocol.threads,
        "torch": torch.__version__, "code_fingerprint": compute_code_fingerprint(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return ZooRun(name, size, run_dir, result, wall)


def train_zoo(protocol: str | ZooProtocol = "mini", *, models: Sequence[str] | None = None,
              sizes: Sequence[str] | None = None, root: str | Path | None = None, corpus: str = "espeak",
              cache_dir: str | Path | None = None, progress: bool = True,
              on_done: Callable[[ZooRun], None] | None = None, ray_address: str | None = None,
              cluster_options: Mapping[str, Any] | None = None) -> list[ZooRun]:
    """Train the zoo (or a subset), one configuration after another, skipping those already done.

    With ``ray_address`` the configurations run on that Ray cluster instead, one task per configuration, through
    :func:`greenaudio.experiments.cluster.run_zoo_grid` (train, then evaluate and measure): the run folders are the
    same (``root`` must then be a folder every node sees, and the driver too), finished ones are reused, and
    ``on_done`` is called on this process for every configuration, with the cell's
    :class:`~greenaudio.experiments.cluster.ZooCellRecord` as the run's ``result``. Without it Ray is never imported.

    Args:
        protocol: a name of :data:`PROTOCOLS` or a :class:`ZooProtocol`.
        models, sizes: subsets (default: all six families, the protocol's sizes).
        root: parent of the run folders (default: ``<cache>/runs/zoo``).
        corpus: ``"espeak"`` (the offline corpus).
        progress: progress bars (with the remaining budget as an ETA).
        on_done: called with each finished :class:`ZooRun` (e.g. to export its artefacts at once).
        ray_address: ``None`` (here, one after another), ``"auto"``, ``"ray://host:port"`` or ``"host:port"``.
        cluster_options: with ``ray_address``, more arguments of ``run_zoo_grid`` (``store``, default
            ``results/zoo_grid.sqlite`` on this machine; ``num_gpus``, ``num_cpus``, ``memory_gb``, ``max_retries``,
            ``cell_timeout_s``...).

    Raises:
        ValueError: unknown protocol, model or size, or a malformed ``ray_address`` (before anything is trained).
        RuntimeError: on the cluster, a configuration failed (after the others ran; the store says why).
    """
    from .. import data, vocoders

    if ray_address is not None:
        from . import cluster

        ray_address = cluster.check_ray_address_form(ray_address)
    elif cluster_options:
        raise ValueError(f"cluster_options {sorted(cluster_options)} given without a ray_address; give both or neither")
    protocol = get_protocol(protocol)
    models = list(models) if models else vocoders.names()
    unknown = [m for m in models if m not in vocoders.names()]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {vocoders.names()}")
    sizes = list(sizes) if sizes else list(protocol.budget_s)
    bad = [s for s in sizes if s not in protocol.budget_s]
    if bad:
        raise ValueError(f"unknown size(s) {bad}; choose from {sorted(protocol.budget_s)}")
    if corpus != "espeak":
        raise ValueError(f"corpus {corpus!r} is not valid; choose one of ['espeak']")
    cache = Path(cache_dir) if cache_dir else data.default_cache_dir()
    root = Path(root) if root else cache / "runs" / "zoo"
    if ray_address is not None:
        return _train_zoo_on_ray(protocol, models, sizes, root, cache_dir, progress, on_done, ray_address,
                                 dict(cluster_options or {}))
    train_set = data.load_espeak_speech("train", cache_dir=cache)
    test_set = data.load_espeak_speech("test", cache_dir=cache)
    todo = [(n, s) for s in sizes for n in models]
    total = sum(protocol.budget_for(s) for _, s in todo)
    runs: list[ZooRun] = []
    spent = 0.0
    for k, (name, size) in enumerate(todo, 1):
        print(f"[{k}/{len(todo)}] {name}/{size}: budget {protocol.budget_for(size):.0f} s ({protocol.clock}); "
              f"about {(total - spent) / 60:.0f} min of budget left in this grid", flush=True)
        run = train_configuration(name, size, protocol, train_set, test_set, root=root, progress=progress)
        spent += protocol.budget_for(size)
        runs.append(run)
        if on_done is not None:
            on_done(run)
    return runs


#: The arguments of ``cluster.run_zoo_grid`` that ``train_zoo(cluster_options=...)`` passes on (it sets the others).
CLUSTER_OPTIONS = ("store", "bench_protocol", "device", "eval_clips", "eval_frames", "eval_metrics", "energy_mode",
                   "num_cpus", "num_gpus", "memory_gb", "max_retries", "cell_timeout_s", "connect_timeout_s",
                   "retry_failed")


def _train_zoo_on_ray(protocol: ZooProtocol, models: list[str], sizes: list[str], root: Path, cache_dir,
                      progress: bool, on_done, ray_address: str, options: dict[str, Any]) -> list[ZooRun]:
    from . import cluster

    bad = sorted(set(options) - set(CLUSTER_OPTIONS))
    if bad:
        raise ValueError(f"cluster_options {bad} are not valid; valid: {sorted(CLUSTER_OPTIONS)}")
    runs: dict[tuple, ZooRun] = {}

    def done(rec) -> None:
        if rec.ok and rec.key not in runs:
            runs[rec.key] = ZooRun(rec.model, rec.size, cluster.cell_run_dir(root, rec, root), rec, rec.wall_s or 0.0)
            if on_done is not None:
                torch.set_num_threads(protocol.threads)  # as train_configuration leaves them on the sequential path
                on_done(runs[rec.key])

    result = cluster.run_zoo_grid(models, sizes, protocol=protocol, shared_dir=root, runs_dir=root,
                                  ray_address=ray_address, cache_dir=cache_dir, on_record=done, on_skipped=done,
                                  progress=progress, **options)
    bad_cells = [f"{r.model}/{r.size}: {r.error}" for r in result.records if not r.ok]
    if bad_cells:
        raise RuntimeError(f"{len(bad_cells)} configuration(s) failed on the cluster at {ray_address!r} (records in "
                           f"{result.store}): " + "; ".join(bad_cells))
    return [runs[r.key] for r in result.records if r.key in runs]
