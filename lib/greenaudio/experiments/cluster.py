"""The zoo grid (train -> evaluate -> measure, per configuration) on a Ray cluster, or sequentially without Ray.

Used by: ``greenaudio grid``, ``greenaudio train --ray-address``, book/running-full-protocol.md, the ``RAY_ADDRESS``
parameter of notebooks/05_1_cost_benchmark and 05_2_quality.

One *cell* is one configuration (model, size) under a zoo protocol (:data:`greenaudio.experiments.zoo.PROTOCOLS`):

1. **train** it with :func:`greenaudio.experiments.zoo.train_configuration` into ``<shared_dir>/runs`` (the trainer
   resumes from the run folder's ``last.pt``, and a finished run is reused, not retrained);
2. **evaluate** the trained weights on the first clips of the test split (:func:`greenaudio.evaluation.evaluate_vocoder`);
3. **measure** their inference cost with :func:`greenaudio.measure.benchmark_model` (parameters, GFLOPs per second
   of audio, real-time factor, energy with its provenance).

With ``ray_address`` every cell is one Ray task that declares its resources (``num_cpus``, ``num_gpus``, ``memory``)
and is retried by Ray (``max_retries``) when its worker dies; the retry resumes from the run folder's last
checkpoint, so the checkpoints must live on a folder every node sees (``shared_dir``). Workers only *return* records:
the driver alone writes the SQLite store (one process writes, one transaction per cell), so no two processes write
one SQLite file, and a cell is either complete in the store or absent. A configuration that raises on a worker
becomes a ``failed`` cell with its reason. Without ``ray_address`` (or without Ray installed) the same cells run one
after another in this process. Every wait is bounded: an unreachable address, or a port held by something that is
not a Ray head, fails within ``connect_timeout_s`` (a gRPC handshake probes the address, and ``ray.init`` runs in a
thread abandoned at the deadline), a cluster that cannot host the requested resources fails before anything is
submitted, and a cell that outlives its deadline is cancelled and stored as failed.

The cost chapter's grid (inference cost of freshly built models, no training: :func:`greenaudio.measure.run_grid`)
runs the same way with :func:`run_bench_grid`, one task per measurement cell, the driver writing its store. The
chapters reach both through a ``RAY_ADDRESS`` parameter (``zoo.train_zoo(ray_address=...)``,
``cost_chapter.run_grid_twice(ray_address=...)``); :func:`check_ray_address_form` rejects a malformed address
before any work.

The store (default ``results/zoo_grid.sqlite``, on the driver's disk) holds two tables: the benchmark's
``cells_v2`` (:class:`greenaudio.measure.ResultStore`, read by the cost chapter) and ``zoo_cells_v1``, one
:class:`ZooCellRecord` per cell (training outcome, scores, the benchmark record, where and how often it ran).

>>> from greenaudio.experiments import cluster
>>> cluster.run_zoo_grid(["melgan"], ["small"], protocol="quick", shared_dir="/mnt/shared/greenaudio",
...                      ray_address="auto")                                     # doctest: +SKIP

Ray is an optional extra (``pip install greenaudio[cluster]``, ``ray[default]==2.60.0``); importing this module
never imports Ray. Usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``) before Ray is imported.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

from ..records import KeyedRecord

__all__ = [
    "ClusterError",
    "CellSpec",
    "ZooCellRecord",
    "ZooGridStore",
    "ZooGridResult",
    "CELL_KEY_FIELDS",
    "DEFAULT_RESOURCES",
    "plan_cells",
    "run_cell",
    "run_zoo_grid",
    "run_bench_grid",
    "cell_run_dir",
    "check_ray_address",
    "check_ray_address_form",
    "compute_full_protocol_cost",
    "format_full_protocol_cost",
    "COST_GPUS",
    "COST_GRIDS",
]

#: Fields identifying a cell in the ``zoo_cells_v1`` table.
CELL_KEY_FIELDS = ("protocol", "model", "size", "run_name", "bench_protocol_key", "device")
_CELL_TABLE = "zoo_cells_v1"

#: Resources a cell's task asks for, per zoo protocol (``memory_gb`` in GB; ``None``: no memory reservation).
DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {
    "quick": {"num_cpus": 2, "num_gpus": 0, "memory_gb": 2.0},
    "mini": {"num_cpus": 1, "num_gpus": 0, "memory_gb": 2.0},
    "full": {"num_cpus": 8, "num_gpus": 1, "memory_gb": 32.0},
}
#: Metrics of the evaluation step per zoo protocol (keys of :data:`greenaudio.evaluation.VALIDATION_METRICS`).
DEFAULT_EVAL = {
    "quick": {"clips": 2, "frames": 32, "metrics": ("d_stft",)},
    "mini": {"clips": 16, "frames": None, "metrics": ("d_stft", "pesq_wb", "stoi")},
    "full": {"clips": 64, "frames": None, "metrics": ("d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos")},
}


class ClusterError(ValueError):
    """The cluster cannot run the grid: Ray missing, an unreachable address, or too few GPUs/CPUs/memory."""


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
        run_name: the run folder's name the driver expects (:func:`zoo.run_directory`); the worker checks it.
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
    def bench_protocol_key(self) -> str:
        return _bench_protocol(self.bench_protocol).key()

    @property
    def key(self) -> tuple:
        return (self.protocol["name"], self.model, self.size, self.run_name, self.bench_protocol_key, self.device)

    @property
    def run_dir(self) -> Path:
        return self.runs_root / self.protocol["name"] / self.run_name

    @property
    def attempts_file(self) -> Path:
        return Path(self.shared_dir) / "attempts" / self.protocol["name"] / f"{self.run_name}.jsonl"


@dataclass(frozen=True)
class ZooCellRecord(KeyedRecord):
    """One cell of the zoo grid: training outcome, scores, inference cost (or why it failed), and where it ran.

    Key (:data:`CELL_KEY_FIELDS`): protocol (zoo protocol name), model, size, run_name (the run folder, named by a
    hash of everything that changes the trained weights), bench_protocol_key, device.

    Attributes:
        status: ``"ok"`` or ``"failed"``; error: the reason of a failure (exception type and message).
        training: ``"trained"`` (from scratch), ``"resumed"`` (from the run folder's ``last.pt``) or ``"reused"``
            (the run folder already held a finished run).
        steps, stop_reason, budget_elapsed_s, clock: where training stopped (budget seconds on ``clock``).
        resumed_from_step: the checkpoint step this attempt started from (``None``: from scratch).
        scores: evaluation metrics (means over ``eval_clips`` test clips; D_STFT lower is better).
        benchmark: the :class:`greenaudio.measure.BenchmarkRecord` of the trained model, as a dict.
        runner: ``"ray"`` or ``"sequential"``; node: host name of the worker; pid: its process;
        attempts: attempts of this grid call (> 1: Ray retried the task after its worker died).
        wall_s: wall-clock time of the successful attempt (in s); created_utc, code_version: when, by which code.
    """

    protocol: str
    model: str
    size: str
    run_name: str
    bench_protocol_key: str
    device: str
    status: str = "ok"
    error: str | None = None
    training: str | None = None
    steps: int | None = None
    stop_reason: str | None = None
    budget_elapsed_s: float | None = None
    clock: str | None = None
    resumed_from_step: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    eval_clips: int | None = None
    benchmark: dict[str, Any] = field(default_factory=dict)
    runner: str | None = None
    node: str | None = None
    pid: int | None = None
    attempts: int | None = None
    wall_s: float | None = None
    created_utc: str | None = None
    code_version: str | None = None

    _key_fields: ClassVar[tuple[str, ...]] = CELL_KEY_FIELDS

    def benchmark_record(self):
        """The measurement as a :class:`greenaudio.measure.BenchmarkRecord` (``None`` for a failed cell)."""
        from ..measure.records import BenchmarkRecord

        return BenchmarkRecord.from_dict(self.benchmark) if self.benchmark else None


def _bench_protocol(fields: Mapping[str, Any]):
    from ..measure.protocol import Protocol

    return Protocol(**dict(fields))


def _failed(spec: CellSpec, error: BaseException | str, runner: str, **extra: Any) -> ZooCellRecord:
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    from ..measure.bench import code_version

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
    import torch

    from .. import data, evaluation
    from ..measure.bench import benchmark_model, code_version
    from ..training import load_checkpoint
    from . import zoo

    started = time.perf_counter()
    _log_attempt(spec, runner)
    protocol = zoo.ZooProtocol(**spec.protocol)
    cache = Path(spec.cache_dir) if spec.cache_dir else None
    train_set = data.load_espeak_speech("train", cache_dir=cache)
    test_set = data.load_espeak_speech("test", cache_dir=cache)
    finished_before = (spec.run_dir / "zoo_run.json").is_file()
    run = zoo.train_configuration(spec.model, spec.size, protocol, train_set, test_set,
                                  root=spec.runs_root, progress=False)
    if run.run_dir.name != spec.run_name:
        raise RuntimeError(f"the worker's run folder {run.run_dir.name} differs from the driver's {spec.run_name}: "
                           "the corpus or the code differ between the driver and this node")
    result = run.result
    if finished_before:
        training = "reused"
    elif result.resumed_from_step is not None:
        training = "resumed"
    else:
        training = "trained"
    model = load_checkpoint(run.run_dir).model.eval()
    n = min(spec.eval_clips, len(test_set))
    items = (evaluation.CroppedDataset(test_set, spec.eval_frames, indices=range(n)) if spec.eval_frames
             else [test_set[i] for i in range(n)])
    audio = torch.stack([items[i][0] for i in range(n)]).numpy()
    mels = torch.stack([items[i][1] for i in range(n)])
    quality = evaluation.evaluate_vocoder(model, audio, mels, model_name=spec.model, size=spec.size,
                                          metrics=spec.eval_metrics, seed=protocol.seed,
                                          train_step=result.step, train_elapsed_s=result.elapsed_s)
    bench = benchmark_model(model, name=spec.model, size=spec.size, protocol=_bench_protocol(spec.bench_protocol),
                            device=spec.device, energy_mode=spec.energy_mode)
    record = ZooCellRecord(
        *spec.key, status="ok", training=training, steps=int(result.step), stop_reason=result.stop_reason,
        budget_elapsed_s=float(result.elapsed_s), clock=protocol.clock, resumed_from_step=result.resumed_from_step,
        scores={k: float(v) for k, v in quality.metrics.items()}, eval_clips=n, benchmark=bench.to_dict(),
        runner=runner, node=socket.gethostname(), pid=os.getpid(), attempts=_count_attempts(spec),
        wall_s=time.perf_counter() - started, created_utc=_now(), code_version=code_version(),
    )
    return record.to_dict()


def _ray_cell_task(spec_fields: dict[str, Any]) -> dict[str, Any]:
    """The Ray task: one cell on a worker (module-level, so workers import it from the installed package)."""
    spec = CellSpec(**{**spec_fields, "eval_metrics": tuple(spec_fields["eval_metrics"])})
    return run_cell(spec, runner="ray")


# -- the store (driver only) -----------------------------------------------------------------------------------------
class ZooGridStore:
    """The grid's SQLite file: :class:`greenaudio.measure.ResultStore` (``cells_v2``) plus ``zoo_cells_v1``.

    Only the driver opens it. A cell is written in two committed transactions: its benchmark record first (an
    existing identical cell is kept), then its :class:`ZooCellRecord`, which is what marks the cell complete; a driver
    killed between the two leaves a cell that is simply computed again.

    Args:
        path: the ``.sqlite`` file (created with its folder). Keep it on the driver's local disk.

    Raises:
        ValueError: ``path`` is a folder or a file that is not SQLite (left untouched).
    """

    def __init__(self, path: str | os.PathLike):
        from ..measure.store import ResultStore

        self.path = Path(path)
        self.results = ResultStore(self.path)
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        cols = ", ".join(f'"{k}" TEXT NOT NULL' for k in CELL_KEY_FIELDS)
        keys = ", ".join(f'"{k}"' for k in CELL_KEY_FIELDS)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"CREATE TABLE IF NOT EXISTS {_CELL_TABLE} ({cols}, status TEXT NOT NULL, "
                           f"code_version TEXT, record TEXT NOT NULL, UNIQUE ({keys}))")

    def close(self) -> None:
        self._conn.close()
        self.results.close()

    def __enter__(self) -> "ZooGridStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get(self, key: Sequence[str]) -> ZooCellRecord | None:
        """The stored cell of a key (values of :data:`CELL_KEY_FIELDS`), ``None`` if absent."""
        where = " AND ".join(f'"{k}" = ?' for k in CELL_KEY_FIELDS)
        row = self._conn.execute(f"SELECT record FROM {_CELL_TABLE} WHERE {where}", tuple(key)).fetchone()
        return None if row is None else ZooCellRecord.from_dict(json.loads(row[0]))

    def put(self, record: ZooCellRecord) -> None:
        """Write (or replace) one cell; its benchmark record goes to ``cells_v2`` first (kept if already there)."""
        if not isinstance(record, ZooCellRecord):
            raise ValueError(f"record must be a ZooCellRecord, got {type(record).__name__}")
        bench = record.benchmark_record()
        if bench is not None:
            self.results.put(bench)
        values = [str(v) for v in record.key] + [record.status, record.code_version,
                                                 json.dumps(record.to_dict(), sort_keys=True, default=str)]
        marks = ", ".join("?" for _ in values)
        cols = ", ".join(f'"{k}"' for k in CELL_KEY_FIELDS) + ", status, code_version, record"
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(f"INSERT OR REPLACE INTO {_CELL_TABLE} ({cols}) VALUES ({marks})", values)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def records(self) -> list[ZooCellRecord]:
        """Every stored cell, in key order."""
        order = ", ".join(f'"{k}"' for k in CELL_KEY_FIELDS)
        rows = self._conn.execute(f"SELECT record FROM {_CELL_TABLE} ORDER BY {order}")
        return [ZooCellRecord.from_dict(json.loads(r[0])) for r in rows]


# -- planning --------------------------------------------------------------------------------------------------------
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
    from .. import data, evaluation, vocoders
    from ..measure.protocol import QUICK_PROTOCOL, THESIS_PROTOCOL, Protocol
    from ..validation import check_choice, check_positive_int
    from . import zoo

    protocol = zoo.get_protocol(protocol)
    valid_models = vocoders.names()
    models = [models] if isinstance(models, str) else (list(models) if models else list(valid_models))
    bad = [m for m in models if m not in valid_models]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; valid models: {valid_models}")
    sizes = [sizes] if isinstance(sizes, str) else (list(sizes) if sizes else list(protocol.budget_s))
    bad = [s for s in sizes if s not in protocol.budget_s]
    if bad:
        raise ValueError(f"unknown size(s) {bad} for protocol {protocol.name!r}; valid sizes: {sorted(protocol.budget_s)}")
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
    shared = Path(shared_dir).expanduser().resolve()
    if shared.exists() and not shared.is_dir():
        raise ValueError(f"shared_dir {str(shared)!r} is a file; give a folder every node of the cluster sees")
    runs = shared / "runs" if runs_dir is None else Path(runs_dir).expanduser().resolve()
    if runs.exists() and not runs.is_dir():
        raise ValueError(f"runs_dir {str(runs)!r} is a file; give a folder every node of the cluster sees")
    train_set = data.load_espeak_speech("train", cache_dir=cache_dir)
    corpus = zoo._corpus_fingerprint(train_set)
    cells = []
    for size in sizes:
        for name in models:
            config = vocoders.registry.config_for(name, size).to_dict()
            run_name = zoo.run_directory(runs, protocol, name, size, config, corpus).name
            cells.append(CellSpec(
                model=name, size=size, protocol=protocol.to_dict(), shared_dir=str(shared), run_name=run_name,
                bench_protocol=bench_protocol.to_dict(), device=device, eval_clips=eval_clips,
                eval_frames=eval_frames, eval_metrics=eval_metrics, energy_mode=energy_mode,
                cache_dir=None if cache_dir is None else str(cache_dir), grid_id=grid_id,
                runs_dir="" if runs_dir is None else str(runs)))
    return cells


def cell_run_dir(shared_dir: str | os.PathLike, record: "ZooCellRecord",
                 runs_dir: str | os.PathLike | None = None) -> Path:
    """The run folder of a stored cell, as the driver sees it (``<runs_dir or shared_dir/runs>/<protocol>/<run>``)."""
    runs = Path(shared_dir) / "runs" if runs_dir is None else Path(runs_dir)
    return runs.expanduser().resolve() / record.protocol / record.run_name


# -- Ray ---------------------------------------------------------------------------------------------------------------
def _import_ray():
    """Ray, or ``None`` when it is not installed (usage statistics off before the first import)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        return None
    return ray


#: The accepted forms of a Ray address (named by every error about one).
RAY_ADDRESS_FORMS = "'auto', 'ray://HOST:PORT' or 'HOST:PORT'"


def check_ray_address_form(address: str) -> str:
    """Check the form of a Ray address (``auto``, ``ray://host:port`` or ``host:port``) without contacting it.

    Imports nothing (neither Ray nor the network): callers check an address before any work starts.

    Returns:
        the address as given (stripped).

    Raises:
        ValueError: a malformed address, naming it and the accepted forms.
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"ray_address must be {RAY_ADDRESS_FORMS}, got {address!r}")
    address = address.strip()
    if address == "auto":
        return address
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in hostport:
        raise ValueError(f"ray_address must be {RAY_ADDRESS_FORMS}, got {address!r}")
    return address


def _require_ray(address: str, connect_timeout_s: float, without_address: str):
    """The ``ray`` module, once the address is well formed and reachable (bounded wait).

    Raises:
        ClusterError: Ray is not installed (the message says how to install it, or that leaving the address out
            will ``without_address``), or the address is unreachable.
    """
    check_ray_address(address, timeout_s=min(connect_timeout_s, 5.0))  # first: importing Ray takes seconds
    ray = _import_ray()
    if ray is None:
        raise ClusterError(f"ray_address={address!r} given but Ray is not installed; install the extra "
                           "(pip install 'greenaudio[cluster]', ray[default]==2.60.0) or leave the address out "
                           f"to {without_address}")
    return ray


def check_ray_address(address: str, timeout_s: float = 5.0) -> str:
    """Check a Ray address (``auto``, ``ray://host:port`` or ``host:port``) and that a Ray head answers there.

    The port must accept a TCP connection *and* answer as a gRPC server (Ray's GCS and its Ray Client server both
    are): the HTTP/2 client preface is sent and the server's first frame must be a SETTINGS frame. So a port that is
    open but held by something else (a web server, a silent socket) is refused within ``timeout_s`` instead of
    leaving ``ray.init`` retrying for minutes. With ``RAY_USE_TLS`` set the gRPC check is skipped (the handshake is
    TLS), and only the TCP connection is checked.

    Returns:
        the address as given (stripped).

    Raises:
        ValueError: a malformed address (the accepted forms are named).
        ClusterError: nothing listens there, or what listens is not a gRPC server (within ``timeout_s`` seconds in
            all; the message names the address and the bound).
    """
    address = check_ray_address_form(address)
    if address == "auto":
        return address
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout_s
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {address!r} ({exc}; waited at most {timeout_s:g} s): start "
                           "one with 'ray start --head' or give the head's address") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true", "yes"):
            return address
        problem = _grpc_probe(sock, deadline)
    if problem:
        raise ClusterError(f"the port at {address!r} is open but no Ray head answers there: {problem} (waited at "
                           f"most {timeout_s:g} s); give the address of a Ray head ('ray start --head' prints it)")
    return address


#: HTTP/2 client connection preface followed by an empty SETTINGS frame (RFC 9113, sections 3.4 and 6.5).
_HTTP2_CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _grpc_probe(sock: socket.socket, deadline: float) -> str | None:
    """``None`` if the peer answers the HTTP/2 preface with a SETTINGS frame before ``deadline``, else what it did.

    Every socket operation is bounded by the time left to ``deadline`` (``time.monotonic``).
    """
    def left() -> float:
        return max(deadline - time.monotonic(), 0.001)

    try:
        sock.settimeout(left())
        sock.sendall(_HTTP2_CLIENT_PREFACE)
        header = b""
        while len(header) < 9:  # a frame header: length (3 bytes), type (1), flags (1), stream id (4)
            if time.monotonic() >= deadline:
                return "it sent no gRPC (HTTP/2) answer in time"
            sock.settimeout(left())
            chunk = sock.recv(9 - len(header))
            if not chunk:
                return "it closed the connection without a gRPC (HTTP/2) answer"
            header += chunk
    except socket.timeout:
        return "it sent no gRPC (HTTP/2) answer in time"
    except OSError as exc:
        return f"the gRPC (HTTP/2) handshake failed ({exc})"
    if header[3] != 0x4 or int.from_bytes(header[5:9], "big") & 0x7FFFFFFF != 0:
        return f"its answer is not an HTTP/2 SETTINGS frame (first bytes {header!r})"
    return None


def _node_fits(node: Mapping[str, Any], num_cpus: float, num_gpus: float, memory_b: float | None) -> bool:
    res = node.get("Resources", {})
    return (res.get("CPU", 0) >= num_cpus and res.get("GPU", 0) >= num_gpus
            and (memory_b is None or res.get("memory", 0) >= memory_b))


def _connect(ray, address: str, connect_timeout_s: float) -> None:
    """``ray.init`` at ``address``, bounded by ``connect_timeout_s`` (in s) in all.

    The address is probed first (:func:`check_ray_address`, a gRPC handshake); then ``ray.init`` runs in a daemon
    thread that is abandoned at the deadline, since Ray's own retries can outlast any bound given to it.

    Raises:
        ClusterError: naming the address and the bound.
    """
    deadline = time.monotonic() + connect_timeout_s
    check_ray_address(address, timeout_s=min(connect_timeout_s, 5.0))
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(int(max(connect_timeout_s, 5))))
    outcome: dict[str, BaseException] = {}

    def init() -> None:
        try:
            ray.init(address=address, log_to_driver=False, namespace="greenaudio", ignore_reinit_error=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    import logging

    quiet = _DropRayThreadWarning()
    ray_logger = logging.getLogger("ray._private.worker")
    ray_logger.addFilter(quiet)
    try:
        thread = threading.Thread(target=init, name=f"greenaudio-ray-init {address}", daemon=True)
        thread.start()
        thread.join(max(deadline - time.monotonic(), 0.0))
    finally:
        ray_logger.removeFilter(quiet)
    if thread.is_alive():  # still retrying: abandoned (a daemon thread does not keep the process alive)
        raise ClusterError(f"could not connect to the Ray cluster at {address!r} within connect_timeout_s="
                           f"{connect_timeout_s:g} s: ray.init had not returned (abandoned); check that the "
                           "address is a Ray head's and that this machine can reach its nodes")
    exc = outcome.get("error")
    if isinstance(exc, (ConnectionError, RuntimeError, TimeoutError)):
        raise ClusterError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
    if exc is not None:
        raise exc


class _DropRayThreadWarning:
    """Logging filter: drops Ray's warning that ``ray.init`` outside the main thread sets no SIGTERM handler."""

    def filter(self, record) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _check_resources(ray, address: str, num_cpus: float, num_gpus: float, memory_b: float | None) -> None:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if any(_node_fits(n, num_cpus, num_gpus, memory_b) for n in nodes):
        return
    total = ray.cluster_resources()
    mem = "none" if memory_b is None else f"{memory_b / 1e9:.1f} GB"
    have = [{k: n.get("Resources", {}).get(k, 0) for k in ("CPU", "GPU")} for n in nodes]
    raise ClusterError(
        f"no node of the Ray cluster at {address!r} offers what one cell asks for (num_gpus={num_gpus:g}, "
        f"num_cpus={num_cpus:g}, memory={mem}); the cluster has {total.get('GPU', 0):g} GPU(s) and "
        f"{total.get('CPU', 0):g} CPU(s) in all, per node: {have}. Lower --num-cpus/--num-gpus or add nodes")


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


def run_zoo_grid(
    models: Iterable[str] | None = None,
    sizes: Iterable[str] | None = None,
    *,
    protocol="mini",
    shared_dir: str | os.PathLike,
    store: str | os.PathLike = "results/zoo_grid.sqlite",
    ray_address: str | None = None,
    bench_protocol=None,
    device: str | None = None,
    eval_clips: int | None = None,
    eval_frames: int | None = None,
    eval_metrics: Sequence[str] | None = None,
    energy_mode: str = "auto",
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    memory_gb: float | None = None,
    max_retries: int = 2,
    cell_timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
    retry_failed: bool = False,
    cache_dir: str | os.PathLike | None = None,
    on_record: Callable[[ZooCellRecord], None] | None = None,
    on_skipped: Callable[[ZooCellRecord], None] | None = None,
    runs_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> ZooGridResult:
    """Run the zoo grid (train -> evaluate -> measure per configuration) on a Ray cluster or in this process.

    Args:
        models, sizes: subsets (default: all six families, the protocol's sizes).
        protocol: a zoo protocol name (``quick``, ``mini``, ``full``) or a :class:`zoo.ZooProtocol`.
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
    from ..measure.bench import code_version
    from ..validation import check_bool, check_non_negative_int, check_positive_number
    from . import zoo

    proto = zoo.get_protocol(protocol)
    res = dict(DEFAULT_RESOURCES.get(proto.name, DEFAULT_RESOURCES["mini"]))
    num_cpus = check_positive_number("num_cpus", res["num_cpus"] if num_cpus is None else num_cpus)
    num_gpus = res["num_gpus"] if num_gpus is None else num_gpus
    if num_gpus != 0:
        num_gpus = check_positive_number("num_gpus", num_gpus)
    memory_gb = res["memory_gb"] if memory_gb is None else check_positive_number("memory_gb", memory_gb)
    max_retries = check_non_negative_int("max_retries", max_retries)
    check_positive_number("connect_timeout_s", connect_timeout_s)
    if cell_timeout_s is not None:
        check_positive_number("cell_timeout_s", cell_timeout_s)
    check_bool("retry_failed", retry_failed)
    ray = None
    if ray_address is not None:
        ray = _require_ray(ray_address, connect_timeout_s, "run the cells one after another in this process")
    grid_id = uuid.uuid4().hex
    cells = plan_cells(models, sizes, proto, shared_dir=shared_dir, bench_protocol=bench_protocol, device=device,
                       eval_clips=eval_clips, eval_frames=eval_frames, eval_metrics=eval_metrics,
                       energy_mode=energy_mode, cache_dir=cache_dir, grid_id=grid_id, runs_dir=runs_dir)
    from ..measure.store import check_store_file

    check_store_file(store)
    version = code_version()
    computed, skipped, failed, reused = [], [], [], []
    with ZooGridStore(store) as db:
        todo = []
        for spec in cells:
            old = db.get(spec.key)
            if old is not None and (old.ok or (not retry_failed and old.code_version == version)):
                skipped.append(spec.key)
                if on_skipped is not None:
                    on_skipped(old)
                continue
            if (spec.run_dir / "zoo_run.json").is_file():
                reused.append(spec.key)
            todo.append(spec)

        def store_record(rec: ZooCellRecord) -> None:
            db.put(rec)
            computed.append(rec.key)
            if not rec.ok:
                failed.append(rec.key)
            if progress:
                what = (f"{rec.training}, {rec.steps} steps, scores {rec.scores}, attempts {rec.attempts}"
                        if rec.ok else f"FAILED: {rec.error}")
                print(f"[{len(computed)}/{len(todo)}] {rec.model}/{rec.size} ({rec.runner}): {what}", flush=True)
            if on_record is not None:
                on_record(rec)

        if progress:
            print(f"zoo grid {proto.name}: {len(cells)} cell(s), {len(skipped)} already in {store}, "
                  f"{len(todo)} to run ({'Ray at ' + ray_address if ray else 'sequentially in this process'})",
                  flush=True)
        if todo and ray is None:
            for spec in todo:
                t0 = time.perf_counter()
                try:
                    rec = ZooCellRecord.from_dict(run_cell(spec, runner="sequential"))
                except Exception as exc:  # recorded as a failed cell; the grid goes on
                    rec = _failed(spec, exc, "sequential", wall_s=time.perf_counter() - t0)
                store_record(rec)
        elif todo:
            _run_on_ray(ray, ray_address, todo, store_record, num_cpus=num_cpus, num_gpus=num_gpus,
                        memory_gb=memory_gb, max_retries=max_retries, cell_timeout_s=cell_timeout_s,
                        connect_timeout_s=connect_timeout_s, proto=proto)
        records = {r.key: r for r in db.records()}
    return ZooGridResult(computed=tuple(computed), skipped=tuple(skipped), failed=tuple(failed),
                         reused_runs=tuple(reused), records=tuple(records[s.key] for s in cells if s.key in records),
                         runner="ray" if ray else "sequential", store=str(store))


def _ray_run_tasks(ray, fn: Callable, jobs: Sequence[tuple[str, tuple, dict[str, Any], float, Any]],
                   on_result: Callable[[Any, Any], None], on_failure: Callable[[Any, str], None]) -> None:
    """Submit ``fn`` once per job ``(name, args, options, timeout_s, context)`` and collect the results on the driver.

    ``on_result(context, value)`` receives each returned value; ``on_failure(context, reason)`` a task that raised,
    whose worker died more than ``max_retries`` times, or that still ran ``timeout_s`` seconds after submission
    (cancelled). Every wait is bounded (at most 10 s per round, 60 s per result).
    """
    task = ray.remote(fn)
    pending: dict[Any, tuple[Any, float]] = {}
    for name, args, options, timeout_s, context in jobs:
        ref = task.options(name=name, **options).remote(*args)
        pending[ref] = (context, time.monotonic() + timeout_s)
    while pending:
        soonest = min(deadline for _, deadline in pending.values())
        wait_s = max(0.0, min(10.0, soonest - time.monotonic()))
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait_s)
        for ref in ready:
            context, _ = pending.pop(ref)
            try:
                value = ray.get(ref, timeout=60)
            except Exception as exc:  # the task raised, or its worker died max_retries + 1 times
                on_failure(context, _ray_reason(exc))
                continue
            on_result(context, value)
        now = time.monotonic()
        for ref, (context, deadline) in list(pending.items()):
            if now >= deadline:
                pending.pop(ref)
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # finished meanwhile, or already gone: the cell is failed either way
                    pass
                on_failure(context, "TimeoutError: still running after the cell deadline; cancelled")


def _task_options(num_cpus: float, num_gpus: float, memory_b: float | None, max_retries: int) -> dict[str, Any]:
    options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": max_retries, "retry_exceptions": False}
    if memory_b is not None:
        options["memory"] = int(memory_b)
    return options


def _run_on_ray(ray, address: str, todo: list[CellSpec], store_record: Callable[[ZooCellRecord], None], *,
                num_cpus: float, num_gpus: float, memory_gb: float | None, max_retries: int,
                cell_timeout_s: float | None, connect_timeout_s: float, proto) -> None:
    _connect(ray, address, connect_timeout_s)
    try:
        memory_b = None if memory_gb is None else memory_gb * 1e9
        _check_resources(ray, address, num_cpus, num_gpus, memory_b)
        options = _task_options(num_cpus, num_gpus, memory_b, max_retries)
        jobs = [(f"greenaudio {spec.model}/{spec.size}", (dataclasses.asdict(spec),), options,
                 cell_timeout_s if cell_timeout_s is not None else 2 * proto.budget_for(spec.size) + 1800.0, spec)
                for spec in todo]
        _ray_run_tasks(
            ray, _ray_cell_task, jobs,
            on_result=lambda spec, value: store_record(ZooCellRecord.from_dict(value)),
            on_failure=lambda spec, reason: store_record(_failed(spec, reason, "ray", attempts=_count_attempts(spec))))
    finally:
        ray.shutdown()


# -- the measurement grid alone (the cost chapter) on Ray ---------------------------------------------------------
def _ray_bench_task(cell: tuple, protocol_fields: dict[str, Any], settings: dict[str, Any], skip: list) -> dict:
    """One measurement cell on a worker: its key is made here (the machine is part of it); a key in ``skip`` (already
    complete in the driver's store) is not measured again. Returns ``{"key": [...], "record": dict | None}``."""
    import torch

    from ..measure.bench import _cell_keys, _default_factory, _jsonable, benchmark_model, failed_record
    from ..measure.environment import collect_environment

    m, s, d, p, r = cell
    prot = _bench_protocol(protocol_fields).replace(precision=p)
    env = _jsonable(collect_environment(d).to_dict())
    energy = {k: settings[k] for k in ("energy_mode", "hardware", "utilisation", "cpu_cores_total") if k in settings}
    keys = _cell_keys(torch.device(d), prot, settings.get("procedure"), env, **energy)
    key = [m, s, d, p, prot.key(), keys["procedure_key"], keys["energy_key"], keys["env_key"], r]
    if key in [list(k) for k in skip]:
        return {"key": key, "record": None}
    t0 = time.perf_counter()
    try:
        rec = benchmark_model(_default_factory(m, s), name=m, size=s, protocol=prot, device=d, repetition=r,
                              environment=env, **settings)
    except Exception as exc:  # recorded as a failed cell; the grid goes on
        rec = failed_record(name=m, size=s, device=d, protocol=prot, repetition=r, error=exc, environment=env,
                            wall_s=time.perf_counter() - t0, procedure=settings.get("procedure"), **energy)
    return {"key": key, "record": rec.to_dict()}


def run_bench_grid(models: Iterable[str] | None = None, sizes: Iterable[str] = ("small", "medium", "large"), *,
                   store, ray_address: str, devices: Iterable[str] = ("cpu",), precisions: Iterable[str] | None = None,
                   protocol=None, repetitions: int = 1, retry_failed: bool = False, num_cpus: float | None = None,
                   memory_gb: float | None = None, max_retries: int = 2, cell_timeout_s: float = 3600.0,
                   connect_timeout_s: float = 10.0, progress: bool = False, **benchmark_kwargs: Any):
    """:func:`greenaudio.measure.run_grid` (inference cost of freshly built models, no training) as Ray tasks.

    One task per cell ``(model, size, device, precision, repetition)``, asking for ``num_cpus`` CPUs (default: the
    protocol's threads, or 1), one GPU for a ``cuda`` cell, and ``memory_gb`` GB when given. A cell's key includes
    the machine that measures it, so each worker makes its own key and skips a cell the driver's store already
    holds (the same rule as ``run_grid``: ok, or failed by the same code unless ``retry_failed``). Workers return
    records; the driver alone writes ``store``, one transaction per cell. A task whose worker dies is re-run
    (``max_retries``); one that raises or outlives ``cell_timeout_s`` (in s) is stored as failed.

    Args:
        store: a :class:`greenaudio.measure.ResultStore` or its path (on the driver's disk).
        ray_address: ``"auto"``, ``"ray://host:port"`` or ``"host:port"``.
        connect_timeout_s: bound on reaching the cluster (in s): the address's probe and ``ray.init`` together.
        models, sizes, devices, precisions, protocol, repetitions, retry_failed, **benchmark_kwargs: as
            :func:`greenaudio.measure.run_grid` (``protocol`` default: the thesis's).

    Returns:
        :class:`greenaudio.measure.GridResult` (records in the planned order).

    Raises:
        ValueError: a bad configuration or address (before anything runs or any store is created).
        ClusterError: Ray not installed, an unreachable cluster or one without the requested resources.
    """
    from ..measure.bench import GridResult, failed_record, plan_grid
    from ..measure.protocol import THESIS_PROTOCOL
    from ..measure.records import BenchmarkRecord
    from ..measure.store import ResultStore
    from ..validation import check_bool, check_non_negative_int, check_positive_number

    protocol = THESIS_PROTOCOL if protocol is None else protocol
    check_ray_address_form(ray_address)
    cells = plan_grid(models, sizes, devices=devices, precisions=precisions, protocol=protocol,
                      repetitions=repetitions, **benchmark_kwargs)
    num_cpus = check_positive_number("num_cpus", num_cpus if num_cpus is not None else (protocol.threads or 1))
    memory_b = None if memory_gb is None else check_positive_number("memory_gb", memory_gb) * 1e9
    max_retries = check_non_negative_int("max_retries", max_retries)
    check_positive_number("cell_timeout_s", cell_timeout_s)
    check_positive_number("connect_timeout_s", connect_timeout_s)
    check_bool("retry_failed", retry_failed)
    ray = _require_ray(ray_address, connect_timeout_s, "measure the cells one after another in this process")
    from ..measure.bench import code_version

    version = code_version()
    st = store if isinstance(store, ResultStore) else ResultStore(store)
    computed, skipped, failed, keys = [], [], [], {}
    try:
        skip = [list(r.key) for r in st.records()
                if r.ok or (not retry_failed and r.code_version == version)]
        settings = dict(benchmark_kwargs)

        def put(cell, value) -> None:
            key = tuple(value["key"])
            keys[cell] = key
            if value["record"] is None:
                skipped.append(key)
                return
            rec = BenchmarkRecord.from_dict(value["record"])
            st.put(rec, replace=st.get(key) is not None)
            computed.append(key)
            if not rec.ok:
                failed.append(key)
            if progress:
                print(f"[{len(computed)}] {rec.model}/{rec.size} {rec.device} (ray): {rec.status}", flush=True)

        def fail(cell, reason) -> None:  # no key from the worker: the driver's own environment keys the record
            m, s, d, p, r = cell
            rec = failed_record(name=m, size=s, device=d, protocol=protocol.replace(precision=p), repetition=r,
                                error=reason, procedure=settings.get("procedure"),
                                **{k: settings[k] for k in ("energy_mode", "hardware", "utilisation",
                                                            "cpu_cores_total") if k in settings})
            st.put(rec, replace=st.get(rec.key) is not None)
            keys[cell] = rec.key
            computed.append(rec.key)
            failed.append(rec.key)

        _connect(ray, ray_address, connect_timeout_s)
        try:
            jobs = []
            for gpus in sorted({1 if cell[2].startswith("cuda") else 0 for cell in cells}):
                _check_resources(ray, ray_address, num_cpus, gpus, memory_b)  # before anything is submitted
            for cell in cells:
                gpus = 1 if cell[2].startswith("cuda") else 0
                jobs.append((f"greenaudio bench {cell[0]}/{cell[1]} {cell[2]}", (cell, protocol.to_dict(), settings,
                             skip), _task_options(num_cpus, gpus, memory_b, max_retries), cell_timeout_s, cell))
            _ray_run_tasks(ray, _ray_bench_task, jobs, on_result=put, on_failure=fail)
        finally:
            ray.shutdown()
        records = {r.key: r for r in st.records()}
    finally:
        if st is not store:
            st.close()
    return GridResult(computed=tuple(computed), skipped=tuple(skipped), failed=tuple(failed),
                      records=tuple(records[keys[c]] for c in cells if c in keys and keys[c] in records))


def _ray_reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[-1] if first else ''}"


# -- the cost of the full protocol ----------------------------------------------------------------------------------
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
    from . import zoo

    n_configurations = check_positive_int("n_configurations", n_configurations)
    hours = (zoo.PROTOCOLS["full"].budget_for("small") / 3600.0 if hours_per_configuration is None
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


# -- command line (``greenaudio grid``; ``greenaudio train --ray-address``) -----------------------------------------
def add_grid_arguments(parser, *, with_selection: bool = True) -> None:
    """The cluster options of ``greenaudio grid`` (and, without the model selection, of ``greenaudio train``)."""
    if with_selection:
        parser.add_argument("--protocol", default="mini", help="zoo protocol: quick, mini or full (default: mini)")
        parser.add_argument("--models", nargs="+", default=None, help="registry names (default: all six)")
        parser.add_argument("--sizes", nargs="+", default=None, help="presets (default: the protocol's sizes)")
    parser.add_argument("--ray-address", default=None, metavar="auto|ray://HOST:PORT|HOST:PORT",
                        help="run one Ray task per configuration on this cluster (default: sequentially here)")
    parser.add_argument("--shared-dir", default=None,
                        help="folder every node sees, for checkpoints and attempt logs (default: <cache>/runs/grid)")
    parser.add_argument("--store", dest="grid_store", default="results/zoo_grid.sqlite",
                        help="SQLite store written by this driver only (default: results/zoo_grid.sqlite)")
    parser.add_argument("--num-cpus", type=float, default=None, help="CPUs each cell asks for")
    parser.add_argument("--num-gpus", type=float, default=None, help="GPUs each cell asks for")
    parser.add_argument("--memory-gb", type=float, default=None, help="memory each cell asks for (GB)")
    parser.add_argument("--max-retries", type=int, default=2, help="re-runs of a cell whose worker died")
    parser.add_argument("--cell-timeout", type=float, default=None, help="cancel a cell after this many seconds")
    parser.add_argument("--retry-failed", dest="grid_retry_failed", action="store_true",
                        help="recompute cells stored as failed")


def add_grid_parser(sub) -> None:
    """``greenaudio grid``: train -> evaluate -> measure every configuration, on Ray or sequentially."""
    g = sub.add_parser(
        "grid", help="train, evaluate and measure the zoo, one Ray task per configuration (or sequentially)",
        description="The zoo grid (greenaudio.experiments.cluster): per configuration, train under a zoo protocol, "
        "score the trained model and measure its inference cost. Completed cells in --store are skipped; the driver "
        "alone writes the store. Without --ray-address the cells run one after another in this process.")
    add_grid_arguments(g)


def _use_protocol_threads(protocol) -> None:
    """Torch threads of the driver as the sequential path leaves them (``train_configuration`` sets the protocol's):
    an export's generated samples and scores are then the same files, whichever runner trained the weights."""
    import torch

    torch.set_num_threads(protocol.threads)


def grid_command(args, *, protocol=None, models=None, sizes=None) -> int:
    """Run ``greenaudio grid`` (or ``train --ray-address``); exit status 0 when every cell is ok, 1 otherwise."""
    import sys

    from .. import data

    shared = args.shared_dir or str(data.default_cache_dir() / "runs" / "grid")
    runs_dir = getattr(args, "runs", None)  # ``train --runs``: the same run folders as the sequential ``train``
    on_record: Callable[[ZooCellRecord], None] | None = None
    if getattr(args, "export", False):  # artefacts written by the driver alone, from the shared run folders
        from . import artefacts, zoo

        if args.ray_address is not None:
            check_ray_address_form(args.ray_address)  # before the export context's work
        zoo_protocol = zoo.get_protocol(protocol or args.protocol)
        ctx = artefacts.build_context(zoo_protocol.name, args.export_root)
        artefacts.export_ground_truth(ctx)

        def export_record(rec: ZooCellRecord) -> None:  # every ok cell: computed now, or already in the store
            if rec.ok:
                _use_protocol_threads(zoo_protocol)
                row = artefacts.export_configuration(cell_run_dir(shared, rec, runs_dir), ctx)
                print(f"exported {row['config']}: D_STFT {row['d_stft']:.4f}, PESQ-WB {row['pesq_wb']:.2f}",
                      flush=True)

        on_record = export_record

    result = run_zoo_grid(models if models is not None else args.models, sizes if sizes is not None else args.sizes,
                          protocol=protocol or args.protocol, shared_dir=shared, store=args.grid_store,
                          ray_address=args.ray_address, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                          memory_gb=args.memory_gb, max_retries=args.max_retries, cell_timeout_s=args.cell_timeout,
                          retry_failed=args.grid_retry_failed, on_record=on_record, on_skipped=on_record,
                          runs_dir=runs_dir)
    for rec in result.records:
        print(f"{rec.model}/{rec.size}\t{rec.status}\t{rec.training or '-'}\tsteps {rec.steps}\t{rec.scores}\t"
              f"{rec.error or ''}")
    print(f"{len(result.computed)} cell(s) computed ({len(result.failed)} failed), {len(result.skipped)} already in "
          f"{result.store} ({result.runner})")
    bad = [r for r in result.records if not r.ok]
    if bad:
        print(f"greenaudio grid: {len(bad)} cell(s) failed", file=sys.stderr)
        return 1
    return 0
