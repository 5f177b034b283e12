"""The results store: one row per grid cell, resumable after any interruption.

Used by: ``greenaudio bench``, :func:`greenaudio.orchestration.bench.run_bench_grid`, the zoo grid's store
(:mod:`greenaudio.orchestration.store`), :mod:`greenaudio.chapters.cost`.

Why SQLite (the standard library's :mod:`sqlite3`, one file; the table is a :class:`greenaudio.files.KeyedTable`):

* **atomic writes** — each record is inserted in its own transaction, committed through SQLite's journal with
  ``synchronous=FULL``; a process killed at any instant (even SIGKILL, mid-write) leaves either the whole row or
  nothing, never a half-written line as an appended CSV or JSON-lines file can;
* **no double counting, no stale answers** — the table has a ``UNIQUE`` constraint on the cell key
  (:data:`~greenaudio.measure.KEY_FIELDS`: model, size, device, precision, protocol, procedure, energy settings,
  environment fingerprint, repetition) and inserts are ``ON CONFLICT DO NOTHING``: re-running a grid, or two runners
  sharing a store, cannot create duplicates, and a run with another setting is another cell;
* **resume** is a query for the keys already present; only the missing cells are computed;
* queries, filtering and :func:`pandas.read_sql` come for free, and :func:`save_records_csv` writes the flat CSV
  the book's tables are built from (written to a temporary file and renamed, so it is atomic too).

Nested values (procedure, protocol, environment, per-repeat times and energies, provenance notes) are stored as JSON
text in their own columns.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..files import KeyedTable, atomic_write_text, check_sqlite_store
from .records import JSON_FIELDS, KEY_FIELDS, BenchmarkRecord

__all__ = ["ResultStore", "load_records", "save_records_csv", "check_store_file", "check_output_file"]

_TABLE = "cells_v2"  # v2: the key gained procedure, energy settings and environment
_FIELDS = tuple(f.name for f in dataclasses.fields(BenchmarkRecord))
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}
_COLUMNS = {f.name: _SQL_TYPES.get(str(f.type).split("|")[0].strip(), "TEXT") for f in dataclasses.fields(BenchmarkRecord)}


def check_store_file(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming ``path`` unless it is missing, empty, or a greenaudio results store (nothing is
    written).

    A SQLite database that has tables but not the store's own (``cells_v2`` with the cell-key columns) belongs to
    something else: it is refused, naming the tables found, instead of gaining a table. (A store of the zoo grid,
    :mod:`greenaudio.orchestration.zoo`, holds ``cells_v2`` beside its own ``zoo_cells_v1``: accepted.)
    """
    check_sqlite_store(path, _TABLE, KEY_FIELDS, "results store")


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check, before any work, that a file can be written at ``path``; creates nothing.

    Valid: ``path`` is not a folder, and its nearest existing ancestor is a writable folder (the missing folders
    between them are created when the file is written, as :func:`save_records_csv` does).

    Args:
        path: the file to write.
        what: how the message names it (``"--csv file"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: naming ``what``, the path and the reason (a folder, a file where a folder should be, a folder
            that cannot be written).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{what} must be a non-empty path, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give the path of a file to write")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{what} {str(path)!r} cannot be written: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {str(path)!r} cannot be written: folder {str(ancestor)!r} is not writable")
    return path


class ResultStore:
    """A SQLite file of :class:`BenchmarkRecord` rows, unique per cell (a typed :class:`greenaudio.files.KeyedTable`:
    table ``cells_v2``, one column per field, nested fields as JSON text).

    Args:
        path: the ``.sqlite`` file (created with its parent folder if missing).

    Raises:
        ValueError: ``path`` exists but is not a SQLite database (the file is left untouched), or is a folder.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        check_store_file(self.path)
        self._table = KeyedTable(self.path, _TABLE, _COLUMNS, KEY_FIELDS, not_null=("status",),
                                 json_columns=JSON_FIELDS, wal=True, what="results store")

    def close(self) -> None:
        self._table.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._table)

    def put(self, record: BenchmarkRecord, *, replace: bool = False) -> bool:
        """Write one record in its own transaction.

        Args:
            record: the record.
            replace: overwrite an existing record of the same cell (used to retry failed cells); otherwise an
                existing cell is left untouched.

        Returns:
            True if the row was written, False if the cell already existed (and ``replace`` was False).
        """
        if not isinstance(record, BenchmarkRecord):
            raise ValueError(f"record must be a BenchmarkRecord, got {type(record).__name__}")
        return self._table.put(record.to_dict(), replace=replace)

    def get(self, key: tuple) -> BenchmarkRecord | None:
        """The stored record of a cell key (values of :data:`KEY_FIELDS`), ``None`` if not computed."""
        if len(key) != len(KEY_FIELDS):
            raise ValueError(f"a cell key has {len(KEY_FIELDS)} values {KEY_FIELDS}, got {len(key)}")
        row = self._table.get(key)
        return None if row is None else BenchmarkRecord.from_dict(row)

    def records(self, **filters: Any) -> list[BenchmarkRecord]:
        """Stored records in key order, optionally filtered by field equality (``records(model="hifigan")``)."""
        return [BenchmarkRecord.from_dict(row) for row in self._table.rows(**filters)]


def save_records_csv(records: Iterable[BenchmarkRecord], path: str | os.PathLike) -> Path:
    """Write records to a flat CSV (nested fields as JSON text) through a temporary file and an atomic rename.

    Raises:
        ValueError: ``path`` cannot be written (see :func:`check_output_file`), checked before anything is written.
    """
    import pandas as pd

    check_output_file(path, "CSV file")
    rows = []
    for r in records:
        d = r.to_dict()
        for k in JSON_FIELDS:
            d[k] = json.dumps(d[k], sort_keys=True, default=str)
        rows.append(d)
    return atomic_write_text(path, pd.DataFrame(rows, columns=list(_FIELDS)).to_csv(index=False))


def load_records(path: str | os.PathLike) -> list[BenchmarkRecord]:
    """Read records back from a store (``.sqlite``/``.db``) or from a CSV written by :func:`save_records_csv`."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no results file at {str(path)!r}")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        out = []
        for row in df.to_dict("records"):
            row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for k in JSON_FIELDS:
                if isinstance(row.get(k), str):
                    row[k] = json.loads(row[k])
            for k in ("repetition", "params", "params_without_wn_gains", "sample_rate", "hop_length", "energy_repeats"):
                if row.get(k) is not None:
                    row[k] = int(row[k])
            out.append(BenchmarkRecord.from_dict(row))
        return out
    with ResultStore(path) as store:
        return store.records()
