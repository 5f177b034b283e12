"""The zoo grid's store: one SQLite file (default ``results/zoo_grid.sqlite``, on the driver's disk) holding the
benchmark's ``cells_v2`` (:class:`greenaudio.measure.ResultStore`, read by the cost chapter) and ``zoo_cells_v1``, one
:class:`ZooCellRecord` per cell (training outcome, scores, the benchmark record, where and how often it ran).

Used by: :mod:`greenaudio.orchestration.zoo` (the driver writes it), book/running-full-protocol.md.

Both tables are typed users of the one keyed store, :class:`greenaudio.files.KeyedTable`: each cell is written in
its own committed transaction, so a cell is either complete in the store or absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..files import KeyedTable
from ..measure.records import BenchmarkRecord
from ..measure.store import ResultStore
from ..records import KeyedRecord

__all__ = ["ZooCellRecord", "ZooGridStore", "CELL_KEY_FIELDS"]

#: Fields identifying a cell in the ``zoo_cells_v1`` table.
CELL_KEY_FIELDS = ("protocol", "model", "size", "run_name", "bench_protocol_key", "device")
_CELL_TABLE = "zoo_cells_v1"
_CELL_COLUMNS = {**{k: "TEXT" for k in CELL_KEY_FIELDS}, "status": "TEXT", "code_version": "TEXT", "record": "TEXT"}


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
        return BenchmarkRecord.from_dict(self.benchmark) if self.benchmark else None


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
        self.path = Path(path)
        self.results = ResultStore(self.path)
        self._cells = KeyedTable(self.path, _CELL_TABLE, _CELL_COLUMNS, CELL_KEY_FIELDS, not_null=("status", "record"),
                                 json_columns=("record",), what="zoo grid store")

    def close(self) -> None:
        self._cells.close()
        self.results.close()

    def __enter__(self) -> "ZooGridStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def get(self, key: Sequence[str]) -> ZooCellRecord | None:
        """The stored cell of a key (values of :data:`CELL_KEY_FIELDS`), ``None`` if absent."""
        row = self._cells.get(key)
        return None if row is None else ZooCellRecord.from_dict(row["record"])

    def put(self, record: ZooCellRecord) -> None:
        """Write (or replace) one cell; its benchmark record goes to ``cells_v2`` first (kept if already there)."""
        if not isinstance(record, ZooCellRecord):
            raise ValueError(f"record must be a ZooCellRecord, got {type(record).__name__}")
        bench = record.benchmark_record()
        if bench is not None:
            self.results.put(bench)
        row = {**dict(zip(CELL_KEY_FIELDS, map(str, record.key))), "status": record.status,
               "code_version": record.code_version, "record": record.to_dict()}
        self._cells.put(row, replace=True)

    def records(self) -> list[ZooCellRecord]:
        """Every stored cell, in key order."""
        return [ZooCellRecord.from_dict(row["record"]) for row in self._cells.rows()]
