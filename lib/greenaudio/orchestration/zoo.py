"""The zoo grid (train -> evaluate -> measure, per configuration), here or on a Ray cluster, and :func:`train_zoo`.

Used by: ``greenaudio train`` and ``greenaudio grid``, notebooks/05_2_quality (``RAY_ADDRESS``),
book/running-full-protocol.md.

One *cell* is one configuration (model, size) under a zoo protocol (:data:`greenaudio.chapters.zoo.PROTOCOLS`):

1. **train** it with :func:`greenaudio.chapters.zoo.train_configuration` into ``<shared_dir>/runs`` (the trainer
   resumes from the run folder's ``last.pt``, and a finished run is reused, not retrained);
2. **evaluate** the trained weights on the first clips of the test split (:func:`greenaudio.evaluation.evaluate_vocoder`);
3. **measure** their inference cost with :func:`greenaudio.measure.benchmark_model` (parameters, GFLOPs per second
   of audio, real-time factor, energy with its provenance).

The cells run through the one grid runner (:func:`greenaudio.orchestration.executors.run_grid`): with
``ray_address`` each is one Ray task that declares its resources and is retried when its worker dies (the retry
resumes from the run folder's last checkpoint, so the checkpoints must live on a folder every node sees,
``shared_dir``); without it (or without Ray installed) they run one after another in this process. Workers only
*return* records: the driver alone writes the store (:class:`greenaudio.orchestration.store.ZooGridStore`), one
transaction per cell. A configuration that raises becomes a ``failed`` cell with its reason; a cell that outlives
its deadline is cancelled and stored as failed.

>>> from greenaudio.orchestration import zoo
>>> zoo.run_zoo_grid(["melgan"], ["small"], protocol="quick", shared_dir="/mnt/shared/greenaudio",
...                  ray_address="auto")                                     # doctest: +SKIP
>>> zoo.train_zoo("mini", sizes=["small"])          # training only, resumable: re-run to continue
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..chapters.zoo import ZooProtocol, ZooRun, corpus_fingerprint, get_protocol, run_directory, train_configuration
from ..measure.protocol import Protocol
from .executors import SequentialExecutor, Task, check_ray_address_form, make_executor, run_grid
from .store import ZooCellRecord, ZooGridStore

__all__ = ["run_zoo_grid", "train_zoo", "ZooGridResult", "cell_run_dir", "DEFAULT_RESOURCES", "CLUSTER_OPTIONS"]

#: Resources a cell's task asks for, per zoo protocol (``memory_gb`` in GB; ``None``: no memory reservation).
DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {"quick": {"num_cpus": 2, "num_gpus": 0, "memory_gb": 2.0},
                                                "mini": {"num_cpus": 1, "num_gpus": 0, "memory_gb": 2.0},
                                                "full": {"num_cpus": 8, "num_gpus": 1, "memory_gb": 32.0}}
#: Metrics of the evaluation step per zoo protocol (keys of :data:`greenaudio.evaluation.VALIDATION_METRICS`).
DEFAULT_EVAL = {
    "quick": {"clips": 2, "frames": 32, "metrics": ("d_stft",)},
    "mini": {"clips": 16, "frames": None, "metrics": ("d_stft", "pesq_wb", "stoi")},
    "full": {"clips": 64, "frames": None, "metrics": ("d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos")},
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- cells ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellSpec:
    """Everything a worker needs to compute one cell (plain values: it travels to Ray workers).

    Attributes:
        model, size: the configuration.
        protocol: the zoo protocol's fields (:meth:`ZooProtocol.to_dict`).
        shared_dir: folder every node sees; run folders go to ``<shared_dir>/runs``.
        run_name: the run folder's name the driver expects (:func:`run_directory`); the worker checks it.
        bench_protocol: the measurement protocol's fields (:meth:`greenaudio.measure.Protocol.to_dict`).
        device: torch device of the evaluation and the measurement.
        eval_clips, eval_frames, eval_metrics: the evaluation (first clips of the test split, cropped to
            ``eval_frames`` mel frames when given).
        energy_mode: ``"auto"``, ``"measured"`` or ``"estimated"`` (:class:`greenaudio.measure.EnergyMonitor`).
        cache_dir: the worker's corpus cache (``None``: the worker's default).
        grid_id: identifies one call of :func:`run_zoo_grid` (attempts of this call are counted).
        runs_dir: parent of the protocol folders of the run folders (``""``: ``<shared_dir>/runs``).
    """

    model: str
    size: str
    protocol: dict[str, Any]
    shared_dir: str
    run_name: str
    bench_protocol: dict[str, Any]
    device: str
    eval_clips: int
    eval_frames: int | None
    eval_metrics: tuple[str, ...]
    energy_mode: str = "auto"
    cache_dir: str | None = None
    grid_id: str = ""
    runs_dir: str = ""

    @property
    def runs_root(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir else Path(self.shared_dir) / "runs"

    @property
    def key(self) -> tuple:
        return (self.protocol["name"], self.model, self.size, self.run_name, Protocol(**self.bench_protocol).key(),
                self.device)

    @property
    def run_dir(self) -> Path:
        return self.runs_root / self.protocol["name"] / self.run_name

    @property
    def attempts_file(self) -> Path:
        return Path(self.shared_dir) / "attempts" / self.protocol["name"] / f"{self.run_name}.jsonl"


def _failed(spec: CellSpec, error: BaseException | str, runner: str, **extra: Any) -> ZooCellRecord:
    from ..measure.bench import code_version

    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return ZooCellRecord(*spec.key, status="failed", error=message, runner=runner, created_utc=_now(),
                         code_version=code_version(), **extra)


def _count_attempts(spec: CellSpec) -> int:
    path = spec.attempts_file
    if not path.is_file():
        return 0
    n = 0
    for line in path.read_text().splitlines():
        try:
            n += json.loads(line).get("grid_id") == spec.grid_id
        except json.JSONDecodeError:  # a line cut by a killed worker
            continue
    return n


def _log_attempt(spec: CellSpec, runner: str) -> None:
    """Append this attempt (pid, node, time) to the cell's attempts file in the shared folder (one writer per cell)."""
    path = spec.attempts_file
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"grid_id": spec.grid_id, "pid": os.getpid(), "node": socket.gethostname(), "runner": runner,
                       "started_utc": _now()})
    with open(path, "a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run_cell(spec: CellSpec, runner: str = "sequential") -> dict[str, Any]:
    """Compute one cell (train -> evaluate -> measure) and return its complete record as a dict.

    Runs in a Ray worker or in this process; writes only inside the cell's run folder and its attempts file in
    ``spec.shared_dir``, never the store. Raises on any failure (the driver turns it into a failed cell).
    """
    from .. import data
    from ..measure.bench import benchmark_model, code_version
    from ..training import load_checkpoint

    started = time.perf_counter()
    _log_attempt(spec, runner)
    protocol = ZooProtocol(**spec.protocol)
    cache = Path(spec.cache_dir) if spec.cache_dir else None
    train_set = data.load_espeak_speech("train", cache_dir=cache)
    test_set = data.load_espeak_speech("test", cache_dir=cache)
    finished_before = (spec.run_dir / "zoo_run.json").is_file()
    run = train_configuration(spec.model, spec.size, protocol, train_set, test_set, root=spec.runs_root,
                              progress=False)
    if run.run_dir.name != spec.run_name:
        raise RuntimeError(f"the worker's run folder {run.run_dir.name} differs from the driver's {spec.run_name}: "
                           "the corpus or the code differ between the driver and this node")
    result = run.result
    training = ("reused" if finished_before else "resumed" if result.resumed_from_step is not None else "trained")
    model = load_checkpoint(run.run_dir).model.eval()
    scores, n = _evaluate(model, spec, protocol, test_set, result)
    bench = benchmark_model(model, name=spec.model, size=spec.size, protocol=Protocol(**spec.bench_protocol),
                            device=spec.device, energy_mode=spec.energy_mode)
    record = ZooCellRecord(
        *spec.key, status="ok", training=training, steps=int(result.step), stop_reason=result.stop_reason,
        budget_elapsed_s=float(result.elapsed_s), clock=protocol.clock, resumed_from_step=result.resumed_from_step,
        scores=scores, eval_clips=n, benchmark=bench.to_dict(), runner=runner, node=socket.gethostname(),
        pid=os.getpid(), attempts=_count_attempts(spec), wall_s=time.perf_counter() - started, created_utc=_now(),
        code_version=code_version(),
    )
    return record.to_dict()


def _evaluate(model, spec: CellSpec, protocol: ZooProtocol, test_set, result) -> tuple[dict[str, float], int]:
    """The cell's scores on the first ``eval_clips`` test clips (cropped to ``eval_frames``), and how many."""
    import torch

    from .. import evaluation

    n = min(spec.eval_clips, len(test_set))
    items = (evaluation.CroppedDataset(test_set, spec.eval_frames, indices=range(n)) if spec.eval_frames
             else [test_set[i] for i in range(n)])
    audio = torch.stack([items[i][0] for i in range(n)]).numpy()
    mels = torch.stack([items[i][1] for i in range(n)])
    quality = evaluation.evaluate_vocoder(model, audio, mels, model_name=spec.model, size=spec.size,
                                          metrics=spec.eval_metrics, seed=protocol.seed,
                                          train_step=result.step, train_elapsed_s=result.elapsed_s)
    return {k: float(v) for k, v in quality.metrics.items()}, n


def _cell_task(spec_fields: dict[str, Any], runner: str) -> dict[str, Any]:
    """The task of one cell (module-level, so Ray workers import it from the installed package)."""
    spec = CellSpec(**{**spec_fields, "eval_metrics": tuple(spec_fields["eval_metrics"])})
    return run_cell(spec, runner=runner)


# -- planning --------------------------------------------------------------------------------------------------------
def _selection(models: Iterable[str] | None, sizes: Iterable[str] | None, protocol: ZooProtocol
               ) -> tuple[list[str], list[str]]:
    """The requested models and sizes (defaults: all six, the protocol's sizes), each checked."""
    from .. import vocoders

    valid_models = vocoders.names()
    models = [models] if isinstance(models, str) else (list(models) if models else list(valid_models))
    models = [m.lower() if isinstance(m, str) and m.lower() in valid_models else m for m in models]  # "HiFiGAN"
    bad = [m for m in models if m not in valid_models]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; valid models: {valid_models}")
    sizes = [sizes] if isinstance(sizes, str) else (list(sizes) if sizes else list(protocol.budget_s))
    bad = [s for s in sizes if s not in protocol.budget_s]
    if bad:
        raise ValueError(f"unknown size(s) {bad} for protocol {protocol.name!r}; valid sizes: {sorted(protocol.budget_s)}")
    return models, sizes


def _evaluation_and_device(protocol: ZooProtocol, bench_protocol, device, eval_clips, eval_frames, eval_metrics,
                           energy_mode) -> dict[str, Any]:
    """The measurement protocol, device and evaluation of every cell (defaults per zoo protocol), each checked."""
    from .. import evaluation
    from ..measure.protocol import QUICK_PROTOCOL, THESIS_PROTOCOL
    from ..validation import check_choice, check_positive_int

    if bench_protocol is None:
        bench_protocol = THESIS_PROTOCOL if protocol.name == "full" else QUICK_PROTOCOL
    if not isinstance(bench_protocol, Protocol):
        raise ValueError(f"bench_protocol must be a greenaudio.measure.Protocol, got {type(bench_protocol).__name__}")
    defaults = DEFAULT_EVAL.get(protocol.name, DEFAULT_EVAL["mini"])
    eval_clips = check_positive_int("eval_clips", defaults["clips"] if eval_clips is None else eval_clips)
    eval_frames = defaults["frames"] if eval_frames is None else check_positive_int("eval_frames", eval_frames)
    eval_metrics = tuple(defaults["metrics"] if eval_metrics is None else eval_metrics)
    for m in eval_metrics:
        check_choice("eval_metrics", m, list(evaluation.VALIDATION_METRICS))
    check_choice("energy_mode", energy_mode, ["auto", "measured", "estimated"])
    device = device or ("cuda" if protocol.device.startswith("cuda") else "cpu")
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not valid; choose 'cpu', 'cuda' or 'cuda:<i>'")
    return dict(bench_protocol=bench_protocol.to_dict(), device=device, eval_clips=eval_clips, eval_frames=eval_frames,
                eval_metrics=eval_metrics, energy_mode=energy_mode)


def plan_cells(models: Iterable[str] | None, sizes: Iterable[str] | None, protocol, *, shared_dir: str | os.PathLike,
               bench_protocol=None, device: str | None = None, eval_clips: int | None = None,
               eval_frames: int | None = None, eval_metrics: Sequence[str] | None = None, energy_mode: str = "auto",
               cache_dir: str | os.PathLike | None = None, grid_id: str = "",
               runs_dir: str | os.PathLike | None = None) -> list[CellSpec]:
    """Validate a grid and list its cells (nothing is trained; the corpus is loaded for the run folders' names).

    ``runs_dir`` is the parent of the run folders (default ``<shared_dir>/runs``; it too must be seen by every node).

    Raises:
        ValueError: an unknown protocol, model, size, metric or energy mode (the message lists the valid ones).
    """
    from .. import data, vocoders

    protocol = get_protocol(protocol)
    models, sizes = _selection(models, sizes, protocol)
    common = _evaluation_and_device(protocol, bench_protocol, device, eval_clips, eval_frames, eval_metrics,
                                    energy_mode)
    shared = Path(shared_dir).expanduser().resolve()
    if shared.exists() and not shared.is_dir():
        raise ValueError(f"shared_dir {str(shared)!r} is a file; give a folder every node of the cluster sees")
    runs = shared / "runs" if runs_dir is None else Path(runs_dir).expanduser().resolve()
    if runs.exists() and not runs.is_dir():
        raise ValueError(f"runs_dir {str(runs)!r} is a file; give a folder every node of the cluster sees")
    corpus = corpus_fingerprint(data.load_espeak_speech("train", cache_dir=cache_dir))
    return [CellSpec(model=name, size=size, protocol=protocol.to_dict(), shared_dir=str(shared),
                     run_name=run_directory(runs, protocol, name, size,
                                            vocoders.registry.config_for(name, size).to_dict(), corpus).name,
                     cache_dir=None if cache_dir is None else str(cache_dir), grid_id=grid_id,
                     runs_dir="" if runs_dir is None else str(runs), **common)
            for size in sizes for name in models]


def cell_run_dir(shared_dir: str | os.PathLike, record: ZooCellRecord,
                 runs_dir: str | os.PathLike | None = None) -> Path:
    """The run folder of a stored cell, as the driver sees it (``<runs_dir or shared_dir/runs>/<protocol>/<run>``)."""
    runs = Path(shared_dir) / "runs" if runs_dir is None else Path(runs_dir)
    return runs.expanduser().resolve() / record.protocol / record.run_name


# -- the grid ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZooGridResult:
    """What :func:`run_zoo_grid` did.

    Attributes:
        computed: keys of the cells computed in this call (ok or failed); failed: those that failed.
        skipped: keys already complete in the store (not recomputed).
        reused_runs: keys whose run folder already held a finished training run (trained again: never).
        records: the records of every requested cell, read back from the store.
        runner: ``"ray"`` or ``"sequential"``; store: the store's path.
    """

    computed: tuple[tuple, ...]
    skipped: tuple[tuple, ...]
    failed: tuple[tuple, ...]
    reused_runs: tuple[tuple, ...]
    records: tuple[ZooCellRecord, ...]
    runner: str
    store: str


def _resources(proto: ZooProtocol, num_cpus, num_gpus, memory_gb, max_retries, connect_timeout_s, cell_timeout_s,
               retry_failed) -> dict[str, Any]:
    """What each cell's task asks for (defaults: :data:`DEFAULT_RESOURCES`), the numbers checked."""
    from ..validation import check_bool, check_non_negative_int, check_positive_number

    res = dict(DEFAULT_RESOURCES.get(proto.name, DEFAULT_RESOURCES["mini"]))
    num_gpus = res["num_gpus"] if num_gpus is None else num_gpus
    out = dict(num_cpus=check_positive_number("num_cpus", res["num_cpus"] if num_cpus is None else num_cpus),
               num_gpus=check_positive_number("num_gpus", num_gpus) if num_gpus != 0 else num_gpus,
               memory_gb=res["memory_gb"] if memory_gb is None else check_positive_number("memory_gb", memory_gb),
               max_retries=check_non_negative_int("max_retries", max_retries),
               connect_timeout_s=check_positive_number("connect_timeout_s", connect_timeout_s))
    if cell_timeout_s is not None:
        check_positive_number("cell_timeout_s", cell_timeout_s)
    check_bool("retry_failed", retry_failed)
    return out


def run_zoo_grid(models: Iterable[str] | None = None, sizes: Iterable[str] | None = None, *, protocol="mini",
                 shared_dir: str | os.PathLike, store: str | os.PathLike = "results/zoo_grid.sqlite",
                 ray_address: str | None = None, bench_protocol=None, device: str | None = None,
                 eval_clips: int | None = None, eval_frames: int | None = None,
                 eval_metrics: Sequence[str] | None = None, energy_mode: str = "auto", num_cpus: float | None = None,
                 num_gpus: float | None = None, memory_gb: float | None = None, max_retries: int = 2,
                 cell_timeout_s: float | None = None, connect_timeout_s: float = 10.0, retry_failed: bool = False,
                 cache_dir: str | os.PathLike | None = None, on_record: Callable[[ZooCellRecord], None] | None = None,
                 on_skipped: Callable[[ZooCellRecord], None] | None = None, runs_dir: str | os.PathLike | None = None,
                 progress: bool = True) -> ZooGridResult:
    """Run the zoo grid (train -> evaluate -> measure per configuration) on a Ray cluster or in this process.

    Args:
        models, sizes: subsets (default: all six families, the protocol's sizes).
        protocol: a zoo protocol name (``quick``, ``mini``, ``full``) or a :class:`ZooProtocol`.
        shared_dir: folder every node sees: run folders (checkpoints) in ``<shared_dir>/runs``, attempt logs in
            ``<shared_dir>/attempts``.
        store: the SQLite file the driver writes (keep it on the driver's local disk).
        ray_address: ``"auto"``, ``"ray://host:port"`` or ``"host:port"``; ``None``: sequentially in this process.
        bench_protocol: the measurement protocol (default: the thesis's for ``full``, ``QUICK_PROTOCOL`` otherwise).
        device: evaluation and measurement device (default: ``cuda`` for ``full``, else ``cpu``).
        eval_clips, eval_frames, eval_metrics: the evaluation (defaults per protocol: :data:`DEFAULT_EVAL`).
        energy_mode: of the measurement (``auto``, ``measured``, ``estimated``).
        num_cpus, num_gpus, memory_gb: what each cell's task asks for (defaults: :data:`DEFAULT_RESOURCES`).
        max_retries: Ray re-runs of a task whose worker died (each resumes from the run folder's checkpoint).
        cell_timeout_s: a cell still running after this long (in s) is cancelled and stored as failed (default:
            twice the size's training budget plus 30 min).
        connect_timeout_s: bound on reaching the cluster (in s): the address's probe and ``ray.init`` together.
        retry_failed: recompute cells stored as failed (also done when the code that failed them changed).
        cache_dir: the workers' corpus cache (default: each node's own).
        on_record: called on the driver with every record as it is stored (e.g. to export its artefacts).
        on_skipped: called on the driver with the stored record of every cell skipped because the store already
            holds it (before the other cells run), so a caller can treat every requested cell alike.
        runs_dir: parent of the run folders (default ``<shared_dir>/runs``; every node must see it).
        progress: print one line per cell.

    Returns:
        :class:`ZooGridResult`.

    Raises:
        ValueError: a bad configuration (before anything runs or any store is created).
        ClusterError: Ray not installed while ``ray_address`` is given, an unreachable address, or no node with the
            requested resources (before anything is submitted).
    """
    from ..measure.store import check_store_file

    proto = get_protocol(protocol)
    res = _resources(proto, num_cpus, num_gpus, memory_gb, max_retries, connect_timeout_s, cell_timeout_s,
                     retry_failed)
    executor = make_executor(ray_address, connect_timeout_s=res["connect_timeout_s"], num_cpus=res["num_cpus"],
                             memory_gb=res["memory_gb"], max_retries=res["max_retries"])
    cells = plan_cells(models, sizes, proto, shared_dir=shared_dir, bench_protocol=bench_protocol, device=device,
                       eval_clips=eval_clips, eval_frames=eval_frames, eval_metrics=eval_metrics,
                       energy_mode=energy_mode, cache_dir=cache_dir, grid_id=uuid.uuid4().hex, runs_dir=runs_dir)
    check_store_file(store)
    with ZooGridStore(store) as db:
        driver = _Driver(db, proto, executor.name, on_record, progress)
        todo = driver.skip_stored(cells, retry_failed, on_skipped)
        if progress:
            print(f"zoo grid {proto.name}: {len(cells)} cell(s), {len(driver.skipped)} already in {store}, "
                  f"{len(todo)} to run ({'Ray at ' + ray_address if ray_address else 'sequentially in this process'})",
                  flush=True)
        tasks = [Task(f"greenaudio {spec.model}/{spec.size}", _cell_task, (dataclasses.asdict(spec), executor.name),
                      context=spec, num_gpus=res["num_gpus"],
                      timeout_s=cell_timeout_s if cell_timeout_s is not None
                      else 2 * proto.budget_for(spec.size) + 1800.0) for spec in todo]
        run_grid(executor, tasks, driver.on_result, driver.on_failure)
        records = {r.key: r for r in db.records()}
    return ZooGridResult(computed=tuple(driver.computed), skipped=tuple(driver.skipped), failed=tuple(driver.failed),
                         reused_runs=tuple(driver.reused),
                         records=tuple(records[s.key] for s in cells if s.key in records),
                         runner=executor.name, store=str(store))


class _Driver:
    """The driver's side of the zoo grid: what the store already holds, and each record as it comes back."""

    def __init__(self, db: ZooGridStore, proto: ZooProtocol, runner: str, on_record, progress: bool):
        self.db, self.proto, self.runner, self.on_record, self.progress = db, proto, runner, on_record, progress
        self.computed: list[tuple] = []
        self.skipped: list[tuple] = []
        self.failed: list[tuple] = []
        self.reused: list[tuple] = []
        self.todo = 0

    def skip_stored(self, cells: Sequence[CellSpec], retry_failed: bool, on_skipped) -> list[CellSpec]:
        """The cells to run: those the store does not hold complete (ok, or failed by this code unless
        ``retry_failed``); ``on_skipped`` gets the stored record of each other one."""
        from ..measure.bench import code_version

        version, todo = code_version(), []
        for spec in cells:
            old = self.db.get(spec.key)
            if old is not None and (old.ok or (not retry_failed and old.code_version == version)):
                self.skipped.append(spec.key)
                if on_skipped is not None:
                    on_skipped(old)
                continue
            if (spec.run_dir / "zoo_run.json").is_file():
                self.reused.append(spec.key)
            todo.append(spec)
        self.todo = len(todo)
        return todo

    def on_result(self, spec: CellSpec, value: dict[str, Any]) -> None:
        self._store(ZooCellRecord.from_dict(value))

    def on_failure(self, spec: CellSpec, error: BaseException | str, wall_s: float | None) -> None:
        extra = {"wall_s": wall_s} if wall_s is not None else {"attempts": _count_attempts(spec)}
        self._store(_failed(spec, error, self.runner, **extra))

    def _store(self, rec: ZooCellRecord) -> None:
        self.db.put(rec)
        self.computed.append(rec.key)
        if not rec.ok:
            self.failed.append(rec.key)
        if self.progress:
            what = (f"{rec.training}, {rec.steps} steps, scores {rec.scores}, attempts {rec.attempts}" if rec.ok
                    else f"FAILED: {rec.error}")
            print(f"[{len(self.computed)}/{self.todo}] {rec.model}/{rec.size} ({rec.runner}): {what}", flush=True)
        if self.on_record is not None:
            self.on_record(rec)


# -- training the zoo ------------------------------------------------------------------------------------------------
#: The arguments of :func:`run_zoo_grid` that ``train_zoo(cluster_options=...)`` passes on (it sets the others).
CLUSTER_OPTIONS = ("store", "bench_protocol", "device", "eval_clips", "eval_frames", "eval_metrics", "energy_mode",
                   "num_cpus", "num_gpus", "memory_gb", "max_retries", "cell_timeout_s", "connect_timeout_s",
                   "retry_failed")


def train_zoo(protocol: str | ZooProtocol = "mini", *, models: Sequence[str] | None = None,
              sizes: Sequence[str] | None = None, root: str | Path | None = None, corpus: str = "espeak",
              cache_dir: str | Path | None = None, progress: bool = True,
              on_done: Callable[[ZooRun], None] | None = None, ray_address: str | None = None,
              cluster_options: Mapping[str, Any] | None = None) -> list[ZooRun]:
    """Train the zoo (or a subset), one configuration after another, skipping those already done.

    With ``ray_address`` the configurations run on that Ray cluster instead, one task per configuration, through
    :func:`run_zoo_grid` (train, then evaluate and measure): the run folders are the same (``root`` must then be a
    folder every node sees, and the driver too), finished ones are reused, and ``on_done`` is called on this process
    for every configuration, with the cell's :class:`ZooCellRecord` as the run's ``result``. Without it Ray is never
    imported.

    Args:
        protocol: a name of :data:`greenaudio.chapters.zoo.PROTOCOLS` or a :class:`ZooProtocol`.
        models, sizes: subsets (default: all six families, the protocol's sizes).
        root: parent of the run folders (default: ``<cache>/runs/zoo``).
        corpus: ``"espeak"`` (the offline corpus).
        progress: progress bars (with the remaining budget as an ETA).
        on_done: called with each finished :class:`ZooRun` (e.g. to export its artefacts at once).
        ray_address: ``None`` (here, one after another), ``"auto"``, ``"ray://host:port"`` or ``"host:port"``.
        cluster_options: with ``ray_address``, more arguments of :func:`run_zoo_grid` (:data:`CLUSTER_OPTIONS`;
            ``store`` defaults to ``results/zoo_grid.sqlite`` on this machine).

    Raises:
        ValueError: unknown protocol, model or size, or a malformed ``ray_address`` (before anything is trained).
        RuntimeError: on the cluster, a configuration failed (after the others ran; the store says why).
    """
    from .. import data

    if ray_address is not None:
        ray_address = check_ray_address_form(ray_address)
    elif cluster_options:
        raise ValueError(f"cluster_options {sorted(cluster_options)} given without a ray_address; give both or neither")
    protocol = get_protocol(protocol)
    models, sizes = _selection(models, sizes, protocol)
    if corpus != "espeak":
        raise ValueError(f"corpus {corpus!r} is not valid; choose one of ['espeak']")
    cache = Path(cache_dir) if cache_dir else data.default_cache_dir()
    root = Path(root) if root else cache / "runs" / "zoo"
    if ray_address is not None:
        return _train_zoo_on_ray(protocol, models, sizes, root, cache_dir, progress, on_done, ray_address,
                                 dict(cluster_options or {}))
    return _train_zoo_here(protocol, models, sizes, root, cache, progress, on_done)


def _train_zoo_here(protocol: ZooProtocol, models: list[str], sizes: list[str], root: Path, cache: Path,
                    progress: bool, on_done) -> list[ZooRun]:
    """Every configuration trained in this process, through the grid runner (a failure stops the zoo)."""
    from .. import data

    train_set = data.load_espeak_speech("train", cache_dir=cache)
    test_set = data.load_espeak_speech("test", cache_dir=cache)
    todo = [(n, s) for s in sizes for n in models]
    left = sum(protocol.budget_for(s) for _, s in todo)
    tasks = []
    for k, (name, size) in enumerate(todo, 1):
        tasks.append(Task(f"{name}/{size}", _train_announced, (f"[{k}/{len(todo)}]", left, name, size, protocol,
                                                                train_set, test_set, root, progress)))
        left -= protocol.budget_for(size)
    runs: list[ZooRun] = []

    def done(context, run: ZooRun) -> None:
        runs.append(run)
        if on_done is not None:
            on_done(run)

    def fail(context, error, wall_s) -> None:
        raise error

    run_grid(SequentialExecutor(), tasks, done, fail)
    return runs


def _train_announced(counter: str, left_s: float, name: str, size: str, protocol: ZooProtocol, train_set, test_set,
                     root: Path, progress: bool) -> ZooRun:
    print(f"{counter} {name}/{size}: budget {protocol.budget_for(size):.0f} s ({protocol.clock}); "
          f"about {left_s / 60:.0f} min of budget left in this grid", flush=True)
    return train_configuration(name, size, protocol, train_set, test_set, root=root, progress=progress)


def _train_zoo_on_ray(protocol: ZooProtocol, models: list[str], sizes: list[str], root: Path, cache_dir,
                      progress: bool, on_done, ray_address: str, options: dict[str, Any]) -> list[ZooRun]:
    import torch

    bad = sorted(set(options) - set(CLUSTER_OPTIONS))
    if bad:
        raise ValueError(f"cluster_options {bad} are not valid; valid: {sorted(CLUSTER_OPTIONS)}")
    runs: dict[tuple, ZooRun] = {}

    def done(rec: ZooCellRecord) -> None:
        if rec.ok and rec.key not in runs:
            runs[rec.key] = ZooRun(rec.model, rec.size, cell_run_dir(root, rec, root), rec, rec.wall_s or 0.0)
            if on_done is not None:
                torch.set_num_threads(protocol.threads)  # as train_configuration leaves them on the sequential path
                on_done(runs[rec.key])

    result = run_zoo_grid(models, sizes, protocol=protocol, shared_dir=root, runs_dir=root, ray_address=ray_address,
                          cache_dir=cache_dir, on_record=done, on_skipped=done, progress=progress, **options)
    bad_cells = [f"{r.model}/{r.size}: {r.error}" for r in result.records if not r.ok]
    if bad_cells:
        raise RuntimeError(f"{len(bad_cells)} configuration(s) failed on the cluster at {ray_address!r} (records in "
                           f"{result.store}): " + "; ".join(bad_cells))
    return [runs[r.key] for r in result.records if r.key in runs]
