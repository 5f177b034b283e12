"""The benchmark grid: every (model, size, device, precision, repetition) cell measured once into a resumable store,
here or as Ray tasks; and the driver of ``scripts/bench_vocoders.py``.

Used by: ``greenaudio bench``, the cost chapter (notebooks/05_1_cost_benchmark: ``cost.run_grid_twice`` is given
:func:`run_bench_grid`, whose ``ray_address`` chooses the executor), scripts/bench_vocoders.py.

Each cell is :func:`greenaudio.measure.benchmark_model` of a freshly built model (no training). Its key holds
everything that changes its numbers (:data:`~greenaudio.measure.KEY_FIELDS`), the machine included, so the task makes
it where it runs and skips a cell the store already holds (ok, or failed by the same code unless ``retry_failed``).
The driver alone writes the store, one transaction per cell, so an interrupted grid resumes with only the missing
cells; a cell whose model raises, returns the wrong length or NaN is stored as ``failed`` with its message, and the
grid goes on.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..measure.bench import benchmark_model, cell_key, check_device, environment_of, failed_record
from ..measure.protocol import THESIS_PROTOCOL, Protocol, torch_dtype
from ..measure.records import BenchmarkRecord
from ..measure.store import ResultStore
from .executors import Task, check_ray_address_form, make_executor, run_grid

__all__ = ["run_bench_grid", "plan_grid", "GridResult", "bench_vocoders"]

#: The settings of :func:`greenaudio.measure.benchmark_model` a grid passes to every cell.
_GRID_BENCHMARK_KWARGS = frozenset({"hop_length", "sample_rate", "n_mels", "procedure", "prepare", "energy_mode",
                                    "hardware", "utilisation", "cpu_cores_total", "with_flops"})
_ENERGY_KWARGS = ("energy_mode", "hardware", "utilisation", "cpu_cores_total")


@dataclass(frozen=True)
class GridResult:
    """What :func:`run_bench_grid` did.

    Attributes:
        computed: keys of the cells measured in this call (ok or failed).
        skipped: keys already in the store, not recomputed.
        failed: keys of this call's cells that failed.
        records: the records of every requested cell, read back from the store.
    """

    computed: tuple[tuple, ...]
    skipped: tuple[tuple, ...]
    failed: tuple[tuple, ...]
    records: tuple[BenchmarkRecord, ...]


# -- planning --------------------------------------------------------------------------------------------------------
def plan_grid(models: Iterable[str] | None = None, sizes: Iterable[str] = ("small", "medium", "large"), *,
              devices: Iterable[str] = ("cpu",), precisions: Iterable[str] | None = None,
              protocol: Protocol = THESIS_PROTOCOL, repetitions: int = 1,
              factory: Callable[[str, str], Any] | None = None, **benchmark_kwargs: Any) -> list[tuple[str, str, str, str, int]]:
    """Validate a grid's configuration and list its ``(model, size, device, precision, repetition)`` cells.

    Everything that would make *every* cell fail is rejected here, before any cell runs and before any store is
    opened: unknown models or sizes (with the valid lists), a size no requested model has, unknown devices or
    precisions, energy settings (mode, hardware, utilisation, cores), and a procedure a model does not accept.

    Raises:
        ValueError: the first configuration error, naming the bad value and the valid choices.
    """
    if not isinstance(protocol, Protocol):
        raise ValueError(f"protocol must be a greenaudio.measure.Protocol, got {type(protocol).__name__}")
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"repetitions must be a positive integer, got {repetitions!r}")
    unknown_kwargs = sorted(set(benchmark_kwargs) - _GRID_BENCHMARK_KWARGS)
    if unknown_kwargs:
        raise ValueError(f"unknown benchmark argument(s) {unknown_kwargs}; valid: {sorted(_GRID_BENCHMARK_KWARGS)}")
    sizes = [sizes] if isinstance(sizes, str) else list(sizes)
    if not sizes:
        raise ValueError("sizes is empty; give at least one size")
    if factory is None:
        cells_ms = _registry_cells(models, sizes)
    elif models is None:
        raise ValueError("models must be given when a factory is")
    else:
        cells_ms = [(m, s) for m in models for s in sizes]
    devices = [str(check_device(d)) for d in ([devices] if isinstance(devices, str) else devices)]
    precisions = list(precisions) if precisions is not None else [protocol.precision]
    for p in precisions:
        torch_dtype(p)
    _check_energy_settings(devices, benchmark_kwargs)
    _check_procedure(benchmark_kwargs.get("procedure"), cells_ms, factory or _default_factory)
    return [(m, s, d, p, r) for (m, s), d, p, r in itertools.product(cells_ms, devices, precisions, range(repetitions))]


def _registry_cells(models: Iterable[str] | str | None, sizes: list[str]) -> list[tuple[str, str]]:
    """The (model, size) pairs of registry models (case-insensitive names; sizes a model lacks are left out)."""
    from .. import vocoders
    from ..validation import check_choice

    valid = vocoders.names()
    models = [models] if isinstance(models, str) else (list(models) if models is not None else valid)
    if not models:
        raise ValueError(f"models is empty; valid models: {valid}")
    canonical = []
    for m in models:  # case-insensitive, as the registry: "HiFiGAN" is "hifigan" (cells and records say so)
        try:
            canonical.append(check_choice("model", m, valid))
        except ValueError:
            raise ValueError(f"unknown model {m!r}; valid models: {valid} (case-insensitive)") from None
    for s in sizes:
        if not any(s in vocoders.sizes(m) for m in canonical):
            raise ValueError(f"unknown size {s!r} for model(s) {canonical}; valid sizes: "
                             f"{sorted({x for m in canonical for x in vocoders.sizes(m)})}")
    return [(m, s) for m in canonical for s in sizes if s in vocoders.sizes(m)]


def _check_energy_settings(devices: list[str], settings: dict[str, Any]) -> None:
    """Energy mode, hardware, utilisation and core counts: checked by building each device's monitor."""
    import torch

    from ..measure.energy import EnergyMonitor

    utilisation = settings.get("utilisation", 1.0)
    if isinstance(utilisation, bool) or not isinstance(utilisation, (int, float)) or not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be a number in (0, 1], got {utilisation!r}")
    cores_total = settings.get("cpu_cores_total")
    for d in devices:
        cpu = torch.device(d).type == "cpu"
        EnergyMonitor(d, mode=settings.get("energy_mode", "auto"), hardware=settings.get("hardware"),
                      utilisation=utilisation, cpu_cores_used=1 if (cores_total and cpu) else None,
                      cpu_cores_total=cores_total if cpu else None)


def _check_procedure(procedure: Any, cells_ms: list[tuple[str, str]], factory: Callable[[str, str], Any]) -> None:
    """Every model accepts the requested inference procedure (a greenaudio Vocoder resolving it)."""
    if not procedure:
        return
    if not isinstance(procedure, dict):
        raise ValueError(f"procedure must be a dict of inference settings, got {procedure!r}")
    for m, s in cells_ms:
        model = factory(m, s)
        if not hasattr(model, "resolve_procedure"):
            raise ValueError(f"procedure={procedure!r} given, but model {m!r} ({type(model).__name__}) is not a "
                             "greenaudio Vocoder; bind the settings into your callable instead")
        model.resolve_procedure(**procedure)
        del model


def _default_factory(name: str, size: str) -> Any:
    from .. import vocoders

    return vocoders.load(name, size)


# -- one cell, where it runs -----------------------------------------------------------------------------------------
def _bench_task(cell: tuple, protocol_fields: dict[str, Any], settings: dict[str, Any], skip: set,
                environment: dict[str, Any] | None = None, factory: Callable[[str, str], Any] | None = None) -> dict:
    """One measurement cell (module-level: Ray workers import it). Its key is made here, the machine being part of
    it; a key in ``skip`` (complete in the driver's store) is not measured again. Returns ``{"key": [...],
    "record": dict | None}``; a model that raises gives a failed record."""
    m, s, d, p, r = cell
    prot = Protocol(**protocol_fields).replace(precision=p)
    env = environment if environment is not None else environment_of(d)
    energy = {k: settings[k] for k in _ENERGY_KWARGS if k in settings}
    key = cell_key(m, s, d, prot, r, environment=env, procedure=settings.get("procedure"), **energy)
    if key in skip:
        return {"key": list(key), "record": None}
    t0 = time.perf_counter()
    try:
        rec = benchmark_model((factory or _default_factory)(m, s), name=m, size=s, protocol=prot, device=d,
                              repetition=r, environment=env, **settings)
    except Exception as exc:  # recorded as a failed cell; the grid goes on (KeyboardInterrupt is not caught)
        rec = failed_record(name=m, size=s, device=d, protocol=prot, repetition=r, error=exc, environment=env,
                            wall_s=time.perf_counter() - t0, procedure=settings.get("procedure"), **energy)
    return {"key": list(key), "record": rec.to_dict()}


# -- the grid --------------------------------------------------------------------------------------------------------
def run_bench_grid(models: Iterable[str] | None = None, sizes: Iterable[str] = ("small", "medium", "large"), *,
                   store: ResultStore | str, ray_address: str | None = None, devices: Iterable[str] = ("cpu",),
                   precisions: Iterable[str] | None = None, protocol: Protocol = THESIS_PROTOCOL, repetitions: int = 1,
                   factory: Callable[[str, str], Any] | None = None, retry_failed: bool = False, progress: bool = True,
                   num_cpus: float | None = None, memory_gb: float | None = None, max_retries: int = 2,
                   cell_timeout_s: float = 3600.0, connect_timeout_s: float = 10.0, **benchmark_kwargs: Any) -> GridResult:
    """Measure every cell of a grid that is not yet in ``store``: here, one after another, or as Ray tasks.

    The configuration is validated first (:func:`plan_grid`): a configuration error raises ``ValueError`` before any
    cell runs and before the store file is created, and is never stored. Each cell is written as soon as it finishes,
    in its own transaction; a failed cell is retried when ``retry_failed`` is set or when the code that computed it
    differs from the current code.

    Args:
        models: registry names (default: all six, in the thesis's order).
        sizes: presets; each must belong to at least one requested model (sizes a model lacks are skipped).
        store: a :class:`~greenaudio.measure.ResultStore` or the path of one (on the driver's disk).
        ray_address: ``None`` (here), ``"auto"``, ``"ray://host:port"`` or ``"host:port"``: one Ray task per cell,
            asking for ``num_cpus`` CPUs (default: the protocol's threads, or 1), one GPU for a ``cuda`` cell and
            ``memory_gb`` GB when given, re-run ``max_retries`` times when its worker dies and stored as failed
            when it raises or outlives ``cell_timeout_s`` (in s); ``connect_timeout_s`` bounds reaching the cluster.
        devices: ``"cpu"``, ``"cuda:0"``...
        precisions: default ``(protocol.precision,)``.
        protocol: the measurement protocol.
        repetitions: independent re-measurements of each cell (``repetition`` = 0 .. n-1).
        factory: ``factory(name, size) -> model``; default :func:`greenaudio.vocoders.load`.
        retry_failed: recompute every cell stored as failed (replacing its record).
        progress: show a tqdm progress bar.
        **benchmark_kwargs: passed to :func:`~greenaudio.measure.benchmark_model` (``energy_mode``, ``hardware``,
            ``procedure``...).

    Returns:
        :class:`GridResult` (records in the planned order).

    Raises:
        ValueError: a configuration error (see :func:`plan_grid`) or a malformed address.
        ClusterError: Ray not installed, an unreachable cluster or one without the requested resources.
    """
    from ..measure.bench import code_version  # read when called: a test may stand in for another commit
    from ..validation import check_bool, check_non_negative_int, check_positive_number

    if ray_address is not None:
        check_ray_address_form(ray_address)
    cells = plan_grid(models, sizes, devices=devices, precisions=precisions, protocol=protocol,
                      repetitions=repetitions, factory=factory, **benchmark_kwargs)
    num_cpus = check_positive_number("num_cpus", num_cpus if num_cpus is not None else (protocol.threads or 1))
    memory_gb = None if memory_gb is None else check_positive_number("memory_gb", memory_gb)
    max_retries = check_non_negative_int("max_retries", max_retries)
    check_positive_number("cell_timeout_s", cell_timeout_s)
    check_positive_number("connect_timeout_s", connect_timeout_s)
    check_bool("retry_failed", retry_failed)
    executor = make_executor(ray_address, connect_timeout_s=connect_timeout_s, num_cpus=num_cpus, memory_gb=memory_gb,
                             max_retries=max_retries, without_address="measure the cells one after another in this "
                             "process")
    st = store if isinstance(store, ResultStore) else ResultStore(store)
    try:
        driver = _BenchDriver(st, protocol, benchmark_kwargs, cells, progress)
        skip = {r.key for r in st.records() if r.ok or (not retry_failed and r.code_version == code_version())}
        envs = {d: environment_of(d) for d in dict.fromkeys(c[2] for c in cells)} if ray_address is None else {}
        tasks = [Task(f"greenaudio bench {c[0]}/{c[1]} {c[2]}", _bench_task,
                      (c, protocol.to_dict(), dict(benchmark_kwargs), skip, envs.get(c[2]), factory),
                      context=c, num_gpus=1 if c[2].startswith("cuda") else 0, timeout_s=cell_timeout_s)
                 for c in cells]
        run_grid(executor, tasks, driver.on_result, driver.on_failure)
        driver.close()
        records = {r.key: r for r in st.records()}
    finally:
        if st is not store:
            st.close()
    keys = driver.keys
    return GridResult(computed=tuple(driver.computed), skipped=tuple(driver.skipped), failed=tuple(driver.failed),
                      records=tuple(records[keys[c]] for c in cells if c in keys and keys[c] in records))


class _BenchDriver:
    """The driver's side of the benchmark grid: each cell's record written to the store as it comes back."""

    def __init__(self, store: ResultStore, protocol: Protocol, settings: dict[str, Any], cells: list, progress: bool):
        from tqdm.auto import tqdm

        self.store, self.protocol, self.settings = store, protocol, settings
        self.computed: list[tuple] = []
        self.skipped: list[tuple] = []
        self.failed: list[tuple] = []
        self.keys: dict[tuple, tuple] = {}
        self.bar = tqdm(total=len(cells), disable=not progress, desc="greenaudio bench", unit="cell")

    def on_result(self, cell: tuple, value: dict[str, Any]) -> None:
        key = self.keys[cell] = tuple(value["key"])
        if value["record"] is None:
            self.skipped.append(key)
        else:
            self._store(BenchmarkRecord.from_dict(value["record"]))
        self.bar.update()

    def on_failure(self, cell: tuple, error: BaseException | str, wall_s: float | None) -> None:
        """A task that died or raised: the driver's own environment-free key records it."""
        m, s, d, p, r = cell
        rec = failed_record(name=m, size=s, device=d, protocol=self.protocol.replace(precision=p), repetition=r,
                            error=error, wall_s=wall_s, procedure=self.settings.get("procedure"),
                            **{k: self.settings[k] for k in _ENERGY_KWARGS if k in self.settings})
        self.keys[cell] = rec.key
        self._store(rec)
        self.bar.update()

    def _store(self, rec: BenchmarkRecord) -> None:
        self.store.put(rec, replace=self.store.get(rec.key) is not None)
        self.computed.append(rec.key)
        if not rec.ok:
            self.failed.append(rec.key)
        self.bar.set_postfix_str(f"{rec.model}/{rec.size} {rec.device} {rec.precision} rep {rec.repetition}")

    def close(self) -> None:
        self.bar.close()


# -- scripts/bench_vocoders.py ---------------------------------------------------------------------------------------
def bench_vocoders(store: str | Path, *, threads: int = 1, models: list[str] | None = None,
                   ship_to: str | Path | None = None) -> int:
    """The CPU speed of the 18 configurations under :data:`greenaudio.measure.SPEED_PROTOCOL` (``threads``
    threads) into ``store``, its records exported beside it (``<store>.csv``) and, with ``ship_to``, shipped there
    (:func:`greenaudio.orchestration.shipping.ship_records`). Returns the exit status: 1 when a cell failed."""
    from ..measure.speed import SPEED_PROTOCOL
    from .shipping import ship_records
    from ..measure.store import save_records_csv

    result = run_bench_grid(models, ["small", "medium", "large"], store=store,
                            protocol=SPEED_PROTOCOL.replace(threads=threads))
    out = Path(store).with_suffix(".csv")
    save_records_csv(result.records, out)
    print(f"{len(result.computed)} cell(s) computed, {len(result.skipped)} read from {store}; records in {out}")
    if ship_to is not None:
        load = ("load average at the end " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
                if Path("/proc/loadavg").exists() else None)
        print(f"shipped: {ship_records(result.records, ship_to, load=load)}")
    return 1 if any(not r.ok for r in result.records) else 0
