"""The results store: one row per grid cell, resumable after any interruption.

Used by: ``greenaudio bench``, :func:`greenaudio.measure.run_grid`, notebooks/05_1_cost_benchmark.ipynb.

Why SQLite (the standard library's :mod:`sqlite3`, one file):

* **atomic writes** — each record is inserted in its own transaction, committed through SQLite's journal with
  ``synchronous=FULL``; a process killed at any instant (even SIGKILL, mid-write) leaves either the whole row or
  nothing, never a half-written line as an appended CSV or JSON-lines file can;
* **no double counting, no stale answers** — the table has a ``UNIQUE`` constraint on the cell key
  (:data:`~greenaudio.measure.KEY_FIELDS`: model, size, device, precision, protocol, procedure, energy settings,
  environment fingerprint, repetition) and inserts are ``ON CONFLICT DO NOTHING``: re-running a grid, or two runners
  sharing a store, cannot create duplicates, and a run with another setting is another cell;
* **resume** is a query for the keys already present; only the missing cells are computed;
* queries, filtering and :func:`pandas.read_sql` come for free, and :meth:`ResultStore.export_csv` writes the flat
  CSV the book's tables are built from (written to a temporary file and renamed, so it is atomic too).

Nested values (procedure, protocol, environment, per-repeat times and energies, provenance notes) are stored as JSON
text in their own columns.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable

from .records import JSON_FIELDS, KEY_FIELDS, BenchmarkRecord

__all__ = ["ResultStore", "load_records", "save_records_csv", "check_store_file", "check_output_file"]

_TABLE = "cells_v2"  # v2: the key gained procedure, energy settings and environment
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FIELDS = tuple(f.name for f in dataclasses.fields(BenchmarkRecord))
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}


def _column_type(field: dataclasses.Field) -> str:
    base = str(field.type).split("|")[0].strip()
    return _SQL_TYPES.get(base, "TEXT")


def _schema() -> str:
    cols = []
    for f in dataclasses.fields(BenchmarkRecord):
        not_null = " NOT NULL" if f.name in KEY_FIELDS or f.name == "status" else ""
        cols.append(f'"{f.name}" {_column_type(f)}{not_null}')
    unique = ", ".join(f'"{k}"' for k in KEY_FIELDS)
    return f"CREATE TABLE IF NOT EXISTS {_TABLE} (\n  " + ",\n  ".join(cols) + f",\n  UNIQUE ({unique})\n)"


def _encode(record: BenchmarkRecord) -> list[Any]:
    values = []
    for name in _FIELDS:
        v = getattr(record, name)
        values.append(json.dumps(v, sort_keys=True, default=str) if name in JSON_FIELDS else v)
    return values


def _decode(row: sqlite3.Row) -> BenchmarkRecord:
    values = {}
    for name in row.keys():
        v = row[name]
        if name in JSON_FIELDS and v is not None:
            v = json.loads(v)
        values[name] = v
    return BenchmarkRecord.from_dict(values)


def _tables(path: Path) -> dict[str, set[str]]:
    """User tables of a SQLite file and their columns, read without writing (read-only connection)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name"
        )]
        return {n: {r[1] for r in conn.execute("PRAGMA table_info(\"{}\")".format(n.replace('"', '""')))}
                for n in names}
    finally:
        conn.close()


def check_store_file(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming ``path`` unless it is missing, empty, or a greenaudio results store (nothing is
    written).

    A SQLite database that has tables but not the store's own (``cells_v2`` with the cell-key columns) belongs to
    something else: it is refused, naming the tables found, instead of gaining a table. (A store of the grid driver,
    :mod:`greenaudio.experiments.cluster`, holds ``cells_v2`` beside its own ``zoo_cells_v1``: accepted.)
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"results store {str(path)!r} is a folder; give the path of a .sqlite file")
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise ValueError(f"results store {str(path)!r} exists but is not a SQLite database (file left untouched);"
                             " give another --store path")
        try:
            tables = _tables(path)
        except sqlite3.Error as exc:
            raise ValueError(f"results store {str(path)!r} cannot be read as a SQLite database ({exc}; file left "
                             "untouched); give another --store path") from None
        if tables and _TABLE not in tables:
            raise ValueError(
                f"results store {str(path)!r} is a SQLite database of something else: it has table(s) "
                f"{sorted(tables)} but not greenaudio's {_TABLE!r} (file left untouched); give another --store path"
            )
        missing = [k for k in KEY_FIELDS if k not in tables.get(_TABLE, KEY_FIELDS)]
        if missing:
            raise ValueError(
                f"results store {str(path)!r} has a table {_TABLE!r} without the cell-key column(s) {missing} "
                f"(columns found: {sorted(tables[_TABLE])}); it is not a greenaudio results store (file left "
                "untouched); give another --store path"
            )


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
    """A SQLite file of :class:`BenchmarkRecord` rows, unique per cell.

    Args:
        path: the ``.sqlite`` file (created with its parent folder if missing).

    Raises:
        ValueError: ``path`` exists but is not a SQLite database (the file is left untouched), or is a folder.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        check_store_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_schema())
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{str(self.path)!r} is not a usable greenaudio results store ({exc})") from None
        existing = {r["name"] for r in self._conn.execute(f"PRAGMA table_info({_TABLE})")}
        for f in dataclasses.fields(BenchmarkRecord):  # a store written by an older version gains new columns
            if f.name not in existing:
                self._conn.execute(f'ALTER TABLE {_TABLE} ADD COLUMN "{f.name}" {_column_type(f)}')

    # -- context management -------------------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0])

    # -- writing -----------------------------------------------------------------------------------------------
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
        cols = ", ".join(f'"{n}"' for n in _FIELDS)
        marks = ", ".join("?" for _ in _FIELDS)
        conflict = "REPLACE" if replace else "IGNORE"
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self._conn.execute(f"INSERT OR {conflict} INTO {_TABLE} ({cols}) VALUES ({marks})", _encode(record))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    # -- reading -----------------------------------------------------------------------------------------------
    def status_of(self, key: tuple) -> str | None:
        """``"ok"``, ``"failed"`` or ``None`` (not computed) for a cell key (values of :data:`KEY_FIELDS`)."""
        rec = self.get(key)
        return None if rec is None else rec.status

    def get(self, key: tuple) -> BenchmarkRecord | None:
        """The stored record of a cell key, ``None`` if not computed."""
        if len(key) != len(KEY_FIELDS):
            raise ValueError(f"a cell key has {len(KEY_FIELDS)} values {KEY_FIELDS}, got {len(key)}")
        where = " AND ".join(f'"{k}" = ?' for k in KEY_FIELDS)
        row = self._conn.execute(f"SELECT * FROM {_TABLE} WHERE {where}", tuple(key)).fetchone()
        return None if row is None else _decode(row)

    def keys(self) -> dict[tuple, str]:
        """Every stored cell key with its status."""
        cols = ", ".join(f'"{k}"' for k in KEY_FIELDS)
        return {tuple(r[k] for k in KEY_FIELDS): r["status"] for r in self._conn.execute(f"SELECT {cols}, status FROM {_TABLE}")}

    def records(self, **filters: Any) -> list[BenchmarkRecord]:
        """Stored records, optionally filtered by field equality (``records(model="hifigan", status="ok")``)."""
        unknown = sorted(set(filters) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; valid fields: {list(_FIELDS)}")
        where = (" WHERE " + " AND ".join(f'"{k}" = ?' for k in filters)) if filters else ""
        order = ", ".join(f'"{k}"' for k in KEY_FIELDS)
        rows = self._conn.execute(f"SELECT * FROM {_TABLE}{where} ORDER BY {order}", tuple(filters.values()))
        return [_decode(r) for r in rows]

    def to_dataframe(self, **filters: Any):
        """The records as a :class:`pandas.DataFrame` (nested fields stay Python objects)."""
        import pandas as pd

        recs = self.records(**filters)
        return pd.DataFrame([r.to_dict() for r in recs], columns=list(_FIELDS))

    def export_csv(self, path: str | os.PathLike, **filters: Any) -> Path:
        """Write the records to a CSV (nested fields as JSON), atomically; returns the path."""
        return save_records_csv(self.records(**filters), path)


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        pd.DataFrame(rows, columns=list(_FIELDS)).to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
