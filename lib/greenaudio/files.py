"""The ground floor for files: sha256, atomic writes, the locked keyed upsert of a CSV table, and the one manifest
schema of shipped files (``manifest.csv`` per folder, checked strictly). Imports nothing of greenaudio.

Used by: :mod:`greenaudio.orchestration.shipping` (writes ``resources/speed``, ``resources/benchmarks``,
``resources/quantization``) and their readers (:mod:`greenaudio.chapters.inference_speed`,
:mod:`greenaudio.measure.speed`, :mod:`greenaudio.quantization.shipped`), :mod:`greenaudio.data.piper`
(``resources/piper_trial``), and, with two more columns (:data:`CONFIG_MANIFEST_COLUMNS`: a configuration and a kind
per row), the trained zoo (:mod:`greenaudio.shipped`, :mod:`greenaudio.orchestration.export`) and the WaveFlow study.
Every reader and verifier of these folders goes through this module. Trained weights are shipped as safetensors
(:func:`write_safetensors`, :func:`read_safetensors`: numpy only, never pickle).

A manifest row is ``path`` (the file's path inside the folder, ``/``-separated), ``bytes``, ``sha256``,
``provenance`` (what was measured, how, on which device, with which tool versions) and ``reproduce`` (the one command
that rewrites the file).

The checks (:func:`verify_folder`), each failing with one error (an :class:`ArtefactError`, or the subclass the
caller names) that names the manifest or the file and what is wrong:

* the manifest is a regular file of UTF-8 CSV text with a header holding the required columns, every line with as
  many fields as the header, no column twice;
* every row's path is a plain relative path (no absolute path, no drive, no ``\\``, no empty, ``.`` or ``..`` part),
  listed once, other than ``manifest.csv`` itself, that resolves inside the folder (also through symbolic links);
* every listed file exists, is a regular file and has the row's sha256 and size;
* the folder holds no file the manifest does not list, apart from ``manifest.csv`` itself, the empty placeholders
  and lock files of :data:`IGNORED_FILES`, and the files a caller allows explicitly, with a reason.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import logging
import math
import os
import re
import sqlite3
import stat
import tempfile
import time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd


__all__ = ["ArtefactError", "sha256_file", "atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries",
           "locked_file", "upsert_rows", "MANIFEST_COLUMNS", "CONFIG_MANIFEST_COLUMNS", "MANIFEST_NAME",
           "IGNORED_FILES", "read_manifest", "file_row", "write_manifest", "verify_folder", "verify_listed_file",
           "check_listed_row", "distinct_values", "column_values", "write_safetensors", "read_safetensors",
           "KeyedTable", "check_sqlite_store", "read_keyed_csv", "merge_keyed_csv"]

logger = logging.getLogger(__name__)

#: A temporary file of an atomic write that is unlocked and at least this old (in s) belongs to a killed write.
STALE_TEMPORARY_S = 5.0


class ArtefactError(ValueError):
    """A shipped artefact is missing, altered (sha256 mismatch) or inconsistent (config vs weights)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory + ``os.replace``).

    The temporary file (``.<name>.<random>.tmp``) is removed if the write fails; one left by a write that was killed
    (SIGKILL, power loss) is removed by the next write of the same file (:func:`remove_stale_temporaries`).

    Args:
        path: destination file; its directory is created if needed.
        data: the full content.

    Returns:
        the destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _lock(fd)  # held while writing: another process's clean-up leaves this file alone
        if hasattr(os, "fchmod"):  # mkstemp creates 0600: give the file the mode a plain write would have
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (best effort; not supported everywhere)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _mode_for(path: Path) -> int:
    """The permission bits a rewrite of ``path`` keeps: the existing file's, else what ``open(path, "w")`` would
    create (0666 less the process's umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask: read from ``/proc/self/status`` (Linux), else set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _lock(fd: int, blocking: bool = True) -> bool:
    """An exclusive advisory lock on ``fd`` (released when it is closed, or when the process dies); ``False`` if
    ``blocking`` is off and another process holds it. Without ``fcntl`` (Windows) nothing is locked: ``True``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: age alone decides
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike, min_age_s: float = STALE_TEMPORARY_S) -> list[Path]:
    """Remove what killed atomic writes of ``path`` left behind: its ``.<name>.*.tmp`` siblings that no process is
    writing (none holds their lock) and that are at least ``min_age_s`` seconds old. Other files are never touched.

    Called before every atomic write of a file and when the trainer resumes a run.

    Returns:
        the files removed.
    """
    path = Path(path)
    removed = []
    for name in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
        tmp = Path(name)
        try:
            if not tmp.is_file() or tmp.is_symlink() or time.time() - tmp.stat().st_mtime < min_age_s:
                continue
            fd = os.open(tmp, os.O_RDWR)  # read-write: NFS emulates flock with write locks
        except OSError:
            continue
        try:
            if not _lock(fd, blocking=False):
                continue  # being written now
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue
        finally:
            os.close(fd)
    if removed:
        logger.info("removed %d temporary file(s) of interrupted writes of %s: %s", len(removed), path,
                    ", ".join(p.name for p in removed))
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def locked_file(path: Path):
    """Hold an exclusive advisory lock on ``<folder>/.<name>.lock`` (POSIX; a no-op where fcntl is missing), so that
    two exporters writing one protocol folder cannot lose each other's rows between read and write."""
    try:
        import fcntl
    except ImportError:  # Windows: one exporter at a time
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upsert_rows(path: Path, key: str | Sequence[str], rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str] | None = None, *,
                order: Callable[[pd.DataFrame], pd.DataFrame] | None = None):
    """Replace the rows of ``path`` (CSV) whose ``key`` (a column, or several together) equals one of ``rows``' and
    write atomically, under a lock (``columns``: keep and order these, reading empty cells as empty strings, as
    manifests need). Rows are sorted by ``config`` and ``path`` where present, then by the key, or by ``order``
    (a function of the merged table returning it sorted)."""
    with locked_file(path):
        _upsert_rows_unlocked(path, key, rows, columns, order)


def _upsert_rows_unlocked(path: Path, key: str | Sequence[str], rows: Sequence[Mapping[str, Any]],
                          columns: Sequence[str] | None, order: Callable[[pd.DataFrame], pd.DataFrame] | None = None):
    keys = [key] if isinstance(key, str) else list(key)
    new = pd.DataFrame(list(rows))
    if path.is_file():
        old = pd.read_csv(path, keep_default_na=False) if columns else pd.read_csv(path)
        replaced = set(new[keys].astype(str).itertuples(index=False, name=None))
        old = old[[row not in replaced for row in old[keys].astype(str).itertuples(index=False, name=None)]]
        table = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        table = new
    if columns:
        table = table[list(columns)]
    if order is not None:
        table = order(table).reset_index(drop=True)
    else:
        sort = list(dict.fromkeys([c for c in ("config", "path") if c in table.columns] + keys))
        table = table.sort_values(sort).reset_index(drop=True)
    atomic_write_text(path, table.to_csv(index=False))


# -- manifests ---------------------------------------------------------------------------------------------------
MANIFEST_COLUMNS = ["path", "bytes", "sha256", "provenance", "reproduce"]
#: The same schema with two optional leading columns, for folders of several configurations (the trained zoo, the
#: WaveFlow study): the configuration a file belongs to (``all`` for a folder-wide table) and its kind (``weights``,
#: ``sample``, ``curves``, ...). Read and verified by the same functions, with ``columns=CONFIG_MANIFEST_COLUMNS``.
CONFIG_MANIFEST_COLUMNS = ["config", "kind", *MANIFEST_COLUMNS]
#: The manifest's file name inside its folder.
MANIFEST_NAME = "manifest.csv"
#: Files a folder may hold without a manifest row, and why. Each must be an empty regular file (not a link).
IGNORED_FILES = {
    ".gitkeep (anywhere)": "an empty placeholder that keeps an otherwise empty folder in git",
    ".<name>.lock (top level)": "the empty advisory lock of greenaudio.files.upsert_rows (gitignored)",
}
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BYTES = re.compile(r"[0-9]+")


def distinct_values(values: Iterable[object], sep: str = "; ", empty: str = "n/a") -> str:
    """The distinct values as strings, sorted and joined with ``sep``, leaving out None, NaN and empty strings
    (``empty`` when nothing is left): the parts of a provenance sentence built from measured rows."""
    kept = {str(v) for v in values
            if v is not None and str(v) != "" and not (isinstance(v, float) and math.isnan(v))}
    return sep.join(sorted(kept)) or empty


def column_values(frame: pd.DataFrame, column: str, sep: str = "; ") -> str:
    """:func:`distinct_values` of one column of ``frame`` ("n/a" when the column is missing or empty)."""
    return distinct_values(frame[column], sep) if column in frame else "n/a"


# -- reading -------------------------------------------------------------------------------------------------------
def _invalid(error: type[ArtefactError], path: Path, what: str, columns: Sequence[str]) -> ArtefactError:
    return error(f"{path} is not a valid manifest: {what} (expected CSV text, UTF-8, with the columns "
                 f"{', '.join(columns)}; rewrite it with greenaudio.files.write_manifest or restore it)")


def read_manifest(folder: str | os.PathLike, *, columns: Sequence[str] = MANIFEST_COLUMNS,
                  error: type[ArtefactError] = ArtefactError) -> pd.DataFrame:
    """``folder/manifest.csv`` as a table of strings (an empty table with ``columns`` when there is none).

    Args:
        folder: the folder of the manifest.
        columns: the columns the manifest must have (it may have more).
        error: the exception class raised (a subclass of :class:`ArtefactError`).

    Raises:
        error: the manifest is not a regular file, not UTF-8, empty, not CSV (unbalanced quotes, a line with another
            number of fields than the header), has a column twice or lacks one of ``columns``; the message names
            the manifest and what is wrong.
    """
    return _read(Path(folder), list(columns), error)[0]


def _read(folder: Path, columns: list[str], error: type[ArtefactError]) -> tuple[pd.DataFrame, list[int]]:
    """The manifest of ``folder`` and the line number of each of its rows."""
    path = folder / MANIFEST_NAME
    if not os.path.lexists(path):
        return pd.DataFrame(columns=columns, dtype=str), []
    if path.is_symlink() or not path.is_file():
        raise _invalid(error, path, "not a regular file" + (" (a symbolic link)" if path.is_symlink() else ""),
                       columns)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(error, path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                       columns) from None
    if not text.strip():
        raise _invalid(error, path, "the file is empty" if not data else "the file holds only white space", columns)
    if "\x00" in text:
        raise _invalid(error, path, f"a NUL character at offset {text.index(chr(0))}", columns)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        for row in reader:
            if row:  # blank lines are skipped
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise _invalid(error, path, f"not CSV ({exc})", columns) from None
    header = rows[0]
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise _invalid(error, path, f"column(s) {twice} appear more than once in the header", columns)
    missing = [c for c in columns if c not in header]
    if missing:
        shown = header[:8] + (["..."] if len(header) > 8 else [])
        raise _invalid(error, path, f"missing column(s) {missing} (the header is {shown})", columns)
    for row, line in zip(rows[1:], lines[1:]):
        if len(row) != len(header):
            raise _invalid(error, path, f"line {line} has {len(row)} field(s), the header {len(header)}", columns)
    return pd.DataFrame(rows[1:], columns=header, dtype=str), lines[1:]


# -- checking ------------------------------------------------------------------------------------------------------
def _listed_path(folder: Path, manifest: Path, where: str, raw: object, error: type[ArtefactError]) -> Path:
    """The file a row lists, once its path is known to be a plain relative path that stays inside ``folder``."""
    text = "" if raw is None else str(raw)
    prefix = f"{manifest} {where}: path {text!r}"
    if not text.strip():
        raise error(f"{manifest} {where}: empty path")
    if "\x00" in text or "\\" in text:
        raise error(f"{prefix} is not a relative path with '/' separators (no '\\' or NUL)")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive or PureWindowsPath(text).is_absolute():
        raise error(f"{prefix} is absolute or names a drive; a manifest lists paths relative to its folder {folder}")
    parts = text.split("/")
    if ".." in parts:
        depth = 0
        for part in parts:
            depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
            if depth < 0:
                raise error(f"{prefix} leaves the folder {folder}")
    if any(part in ("", ".", "..") for part in parts):
        raise error(f"{prefix} is not a plain relative path (no empty, '.' or '..' part); write it as "
                    f"{os.path.normpath(text).replace(os.sep, '/')!r}")
    if text == MANIFEST_NAME:
        raise error(f"{manifest} {where} lists the manifest itself")
    full = folder / text
    try:
        inside = full.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as exc:
        raise error(f"{prefix} cannot be resolved ({exc})") from None
    if not inside:
        raise error(f"{prefix} resolves to {full.resolve()}, outside the folder {folder} (through a symbolic link)")
    return full


def _check_file(full: Path, manifest: Path, where: str, row: Mapping[str, object], error: type[ArtefactError],
                hint: str) -> str:
    """Existence, sha256 and size of one listed file; returns its sha256."""
    try:
        exists, regular = os.path.lexists(full), full.is_file()
    except OSError as exc:
        raise error(f"{full} (listed in {manifest} {where}) cannot be read ({exc})") from None
    if not exists:
        raise error(f"missing artefact {full} (listed in {manifest} {where})")
    if not regular:
        raise error(f"{full} (listed in {manifest} {where}) is not a regular file")
    expected = str(row.get("sha256", ""))
    if not _SHA256.fullmatch(expected.strip()):
        raise error(f"{manifest} {where}: sha256 {expected!r} of {full.name} is not 64 hexadecimal digits")
    size_text = str(row.get("bytes", "")).strip()
    if not _BYTES.fullmatch(size_text):
        raise error(f"{manifest} {where}: bytes {size_text!r} of {full.name} is not a non-negative integer")
    digest = sha256_file(full)
    if digest != expected.strip().lower():
        raise error(f"sha256 mismatch for {full}: manifest {manifest} says {expected.strip()}, the file hashes to "
                    f"{digest} (altered after shipping: restore it, or re-ship it{hint})")
    size = full.stat().st_size
    if size != int(size_text):
        raise error(f"size mismatch for {full}: manifest {manifest} says {size_text} bytes, the file has {size} "
                    f"(the sha256 matches: the manifest's bytes column is wrong; rewrite the row{hint})")
    return digest


def check_listed_row(folder: str | os.PathLike, row: Mapping[str, object], *,
                     error: type[ArtefactError] = ArtefactError, how_to_ship: str = "") -> Path:
    """Check one manifest row (from :func:`read_manifest`): its path stays inside ``folder`` and its file has the
    row's sha256 and size. Returns the file's path.

    Raises:
        error: the path is absolute, leaves the folder or is not plain; the file is missing, not a regular file, or
            its sha256 or size differ from the row's (the message names the file and the manifest).
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    where = f"row {getattr(row, 'name', '?')}" if hasattr(row, "name") else "row"
    full = _listed_path(folder, manifest, where, row.get("path"), error)
    _check_file(full, manifest, where, row, error, f" (ship it with `{how_to_ship}`)" if how_to_ship else "")
    return full


def _ignorable(rel: PurePosixPath, full: Path) -> bool:
    name = rel.name
    if not (name == ".gitkeep" or (len(rel.parts) == 1 and name.startswith(".") and name.endswith(".lock"))):
        return False
    return full.is_file() and not full.is_symlink() and full.stat().st_size == 0


def _entries(folder: Path, error: type[ArtefactError]) -> list[PurePosixPath]:
    """Every entry of ``folder`` that is not a real directory (files, links, links to folders), recursively."""
    def fail(exc: OSError) -> None:
        raise error(f"cannot list {exc.filename}: {exc.strerror}")

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False, onerror=fail):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                dirnames.remove(d)
                filenames.append(d)
        found += [PurePosixPath((base / f).relative_to(folder).as_posix()) for f in filenames]
    return found


def _verified(folder: Path, columns: Sequence[str], error: type[ArtefactError], allow: Mapping[str, str],
              how_to_ship: str) -> tuple[pd.DataFrame, dict[str, str]]:
    manifest = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise error(f"nothing shipped in {folder} (no such folder, so no manifest.csv)")
    if not os.path.lexists(manifest):
        raise error(f"nothing shipped in {folder} (no manifest.csv)")
    rows, lines = _read(folder, list(columns), error)
    hint = f" (ship it with `{how_to_ship}`)" if how_to_ship else ""
    listed: dict[str, tuple[str, Path]] = {}
    for (_, row), line in zip(rows.iterrows(), lines):
        where = f"line {line}"
        full = _listed_path(folder, manifest, where, row["path"], error)
        if row["path"] in listed:
            raise error(f"{manifest} lists {row['path']!r} twice ({listed[row['path']][0]} and {where})")
        listed[row["path"]] = (where, full)
    for where, full in listed.values():
        if not os.path.lexists(full):
            raise error(f"missing artefact {full} (listed in {manifest} {where})")
    unlisted = sorted(str(rel) for rel in _entries(folder, error)
                      if str(rel) not in listed and str(rel) != MANIFEST_NAME and str(rel) not in allow
                      and not _ignorable(rel, folder / rel))
    if unlisted:
        shown = unlisted[:10] + ([f"... {len(unlisted) - 10} more"] if len(unlisted) > 10 else [])
        raise error(f"{manifest} does not list {len(unlisted)} file(s) found in {folder}: {shown}; every shipped "
                    f"file needs a manifest row{hint} (only empty .gitkeep placeholders and the writers' empty "
                    f".<name>.lock files may be left out)")
    digests = {}
    for _, row in rows.iterrows():
        where, full = listed[row["path"]]
        digests[row["path"]] = _check_file(full, manifest, where, row, error, hint)
    return rows, digests


def verify_folder(folder: str | os.PathLike, *, columns: Sequence[str] = MANIFEST_COLUMNS,
                  error: type[ArtefactError] = ArtefactError, allow: Mapping[str, str] | None = None,
                  how_to_ship: str = "") -> pd.DataFrame:
    """Check a shipped folder against its ``manifest.csv``, strictly (see the module's docstring); returns the
    manifest as a table of strings.

    Args:
        folder: the shipped folder.
        columns: the columns the manifest must have.
        error: the exception class raised (a subclass of :class:`ArtefactError`).
        allow: files (paths relative to ``folder``) that may be present without a manifest row, each with the reason;
            a listed one is checked like any other.
        how_to_ship: the command that ships the folder's files, quoted in the messages.

    Raises:
        error: no folder or no ``manifest.csv``; a malformed manifest; a row whose path is absolute, leaves the
            folder (``..``, a symbolic link) or is listed twice; a missing or altered file (sha256 or size); a file
            the manifest does not list (all of them named).
    """
    return _verified(Path(folder), columns, error, dict(allow or {}), how_to_ship)[0]


def file_row(path: str | os.PathLike, provenance: str, reproduce: str, *, folder: str | os.PathLike | None = None,
             config: str | None = None, kind: str | None = None) -> dict[str, object]:
    """The manifest row of one file: its path (its name, or with ``folder`` its path relative to ``folder``), size
    (bytes), sha256, provenance and reproducing command; with ``config`` and ``kind``, a row of a
    :data:`CONFIG_MANIFEST_COLUMNS` manifest (the trained zoo's, the WaveFlow study's)."""
    path = Path(path)
    row: dict[str, object] = {} if config is None else {"config": config, "kind": kind}
    row.update({"path": path.relative_to(folder).as_posix() if folder is not None else path.name,
                "bytes": path.stat().st_size, "sha256": sha256_file(path), "provenance": provenance,
                "reproduce": reproduce})
    return row


def write_manifest(folder: str | os.PathLike, rows: Sequence[Mapping[str, object]], *, replace: bool = False) -> Path:
    """Write ``folder/manifest.csv`` atomically: ``rows`` replace the rows of the same ``path`` (or, with
    ``replace``, the whole manifest); rows sorted by path. Returns the manifest's path.

    Raises:
        ArtefactError: the existing manifest is malformed (without ``replace``; it is not merged into)."""
    folder = Path(folder)
    new = pd.DataFrame(list(rows), columns=MANIFEST_COLUMNS)
    if not replace:
        old = read_manifest(folder)
        new = pd.concat([old[~old["path"].isin(new["path"])], new], ignore_index=True)
    path = folder / MANIFEST_NAME
    atomic_write_text(path, new.sort_values("path").to_csv(index=False))
    return path


def verify_listed_file(path: str | os.PathLike, *, required: bool = True, error: type[ArtefactError] = ArtefactError,
                       how_to_ship: str = "") -> str:
    """Check ``path`` against the ``manifest.csv`` of its folder; returns the file's sha256.

    Args:
        path: a shipped file.
        required: the file is a shipped one: the manifest must list it and the whole folder must verify
            (:func:`verify_folder`: every listed file, no unlisted one). ``False`` (a CSV of the user's own) accepts
            a file no manifest lists, but a manifest beside it must be well-formed and a row listing the file must
            match it.
        error: the exception class raised (a subclass of :class:`ArtefactError`).
        how_to_ship: the command that ships such a file, quoted in the messages.

    Raises:
        error: the file's sha256 differs from the manifest's (names the file, the manifest and both hashes), the
            manifest does not list it while ``required``, or any failure of :func:`verify_folder` while ``required``.
    """
    path = Path(path)
    folder = path.parent
    manifest_path = folder / MANIFEST_NAME
    rows, lines = _read(folder, MANIFEST_COLUMNS, error)
    hint = f" (ship it with `{how_to_ship}`)" if how_to_ship else ""
    row = rows[rows["path"] == path.name]
    if row.empty:
        if required:
            where = manifest_path if os.path.lexists(manifest_path) else f"{folder} has no manifest.csv, so it"
            raise error(f"{where} does not list {path.name}{hint}")
        return sha256_file(path)
    if required:
        return _verified(folder, MANIFEST_COLUMNS, error, {}, how_to_ship)[1][path.name]
    where = f"line {lines[rows.index.get_loc(row.index[0])]}"
    full = _listed_path(folder, manifest_path, where, path.name, error)
    return _check_file(full, manifest_path, where, row.iloc[0], error, hint)


# -- safetensors ---------------------------------------------------------------------------------------------------
#: safetensors dtype names -> numpy dtypes (little-endian) read and written here.
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                      "U8": "u1", "BOOL": "?"}
_SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (name -> numpy array) as a safetensors file, atomically: an 8-byte little-endian header
    length, a JSON header ``{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}`` and the raw
    little-endian bytes, tensors in name order. Never pickles. Returns the path.

    Raises:
        ValueError: a dtype safetensors does not know here (:data:`SAFETENSORS_DTYPES`), or metadata that is not
            text.
    """
    import json

    import numpy as np

    names = {np.dtype(v): k for k, v in SAFETENSORS_DTYPES.items()}
    header: dict[str, Any] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype not in names:
            raise ValueError(f"tensor {name!r}: dtype {array.dtype} has no safetensors name here; "
                             f"known: {sorted(SAFETENSORS_DTYPES)}")
        data = np.ascontiguousarray(array, dtype=dtype).tobytes()
        header[name] = {"dtype": names[dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return atomic_write_bytes(path, len(text).to_bytes(8, "little") + text + b"".join(chunks))


def read_safetensors(path: str | os.PathLike, *, error: type[ArtefactError] = ArtefactError
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors (name -> writable numpy array) and the ``__metadata__`` of a safetensors file.

    Raises:
        error: the file is not a well-formed safetensors file (a header length past the file, a header that is not
            a JSON object, an unknown dtype, a shape that does not match the byte range, ranges that overlap, leave
            gaps or do not end at the end of the file); the message names the file and what is wrong.
    """
    import json

    import numpy as np

    path = Path(path)
    data = bytearray(path.read_bytes())

    def bad(what: str) -> ArtefactError:
        return error(f"{path} is not a valid safetensors file: {what}")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes, fewer than the 8 of the header length")
    size = int.from_bytes(data[:8], "little")
    if size > min(len(data) - 8, _SAFETENSORS_HEADER_LIMIT):
        raise bad(f"a header of {size} bytes in a file of {len(data)}")
    try:
        header = json.loads(bytes(data[8:8 + size]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ is not a map of strings")
    body = memoryview(data)[8 + size:]
    tensors, spans = {}, []
    for name, entry in header.items():
        try:
            dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise bad(f"tensor {name!r}: the entry {entry!r} lacks a known dtype, a shape or two data_offsets") from None
        count = math.prod(shape)
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
            raise bad(f"tensor {name!r}: shape {list(shape)} of {entry['dtype']} does not fill bytes {begin}-{end} "
                      f"of a {len(body)}-byte body")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype, count=count).reshape(shape)
        spans.append((begin, end))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            raise bad(f"the tensors' bytes {'overlap' if begin < at else 'leave a gap'} at offset {min(at, begin)}")
        at = end
    if at != len(body):
        raise bad(f"{len(body) - at} byte(s) after the last tensor")
    return tensors, {str(k): v for k, v in metadata.items()}


# -- the keyed store ---------------------------------------------------------------------------------------------
# One resumable keyed store, in two forms: a table of a SQLite file (the benchmark's and the zoo grid's records:
# one committed transaction per row, so a writer killed at any instant leaves each row whole or absent) and a CSV
# file of text rows (a script's measurements, merged under a lock and written atomically). Both keep rows unique per
# key; a caller resumes by asking for the keys already there.
def check_sqlite_store(path: str | os.PathLike, table: str, key: Sequence[str], what: str = "results store") -> None:
    """Raise ``ValueError`` naming ``path`` unless it is missing, empty, or a SQLite file holding no table or
    ``table`` with the ``key`` columns (nothing is written: a database of something else is left untouched)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give the path of a .sqlite file")
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    untouched = "(file left untouched); give another --store path"
    if head != _SQLITE_MAGIC:
        raise ValueError(f"{what} {str(path)!r} exists but is not a SQLite database {untouched}")
    try:
        tables = _sqlite_tables(path)
    except sqlite3.Error as exc:
        raise ValueError(f"{what} {str(path)!r} cannot be read as a SQLite database ({exc}; file left "
                         "untouched); give another --store path") from None
    if tables and table not in tables:
        raise ValueError(f"{what} {str(path)!r} is a SQLite database of something else: it has table(s) "
                         f"{sorted(tables)} but not greenaudio's {table!r} {untouched}")
    missing = [k for k in key if k not in tables.get(table, key)]
    if missing:
        raise ValueError(f"{what} {str(path)!r} has a table {table!r} without the cell-key column(s) {missing} "
                         f"(columns found: {sorted(tables[table])}); it is not a greenaudio {what} {untouched}")


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _sqlite_tables(path: Path) -> dict[str, set[str]]:
    """User tables of a SQLite file and their columns, read without writing (read-only connection)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name")]
        return {n: {r[1] for r in conn.execute('PRAGMA table_info("{}")'.format(n.replace('"', '""')))}
                for n in names}
    finally:
        conn.close()


class KeyedTable:
    """Rows (dicts) unique per key in one table of a SQLite file: :meth:`put` one row per committed transaction
    (``synchronous=FULL``), :meth:`get` by key, :meth:`rows` in key order. Typed stores wrap it (the benchmark's
    :class:`greenaudio.measure.ResultStore`, the zoo grid's store).

    Args:
        path: the ``.sqlite`` file (created with its folder).
        table: the table (created if missing; a table written by an older version gains the missing columns).
        columns: column name -> SQL type (``TEXT``, ``INTEGER``, ``REAL``), in order.
        key: the columns whose values identify a row (``UNIQUE``, ``NOT NULL``).
        not_null: more ``NOT NULL`` columns.
        json_columns: columns stored as JSON text (encoded on :meth:`put`, decoded on reading).
        wal: switch the file to SQLite's write-ahead log (readers never block the writer).
        what: how error messages name the store.

    Raises:
        ValueError: the file cannot be used as a SQLite store.
    """

    def __init__(self, path: str | os.PathLike, table: str, columns: Mapping[str, str], key: Sequence[str], *,
                 not_null: Iterable[str] = (), json_columns: Iterable[str] = (), wal: bool = False,
                 what: str = "store"):
        self.path, self.table, self.columns, self.key = Path(path), table, dict(columns), tuple(key)
        self.json_columns = frozenset(json_columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        required = set(self.key) | set(not_null)
        cols = [f'"{c}" {t}{" NOT NULL" if c in required else ""}' for c, t in self.columns.items()]
        try:
            if wal:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols)
                               + f",\n  UNIQUE ({self._names(self.key)})\n)")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{str(self.path)!r} is not a usable greenaudio {what} ({exc})") from None
        existing = {r["name"] for r in self._conn.execute(f"PRAGMA table_info({table})")}
        for name, sql_type in self.columns.items():
            if name not in existing:
                self._conn.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql_type}')

    @staticmethod
    def _names(names: Iterable[str]) -> str:
        return ", ".join(f'"{n}"' for n in names)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "KeyedTable":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])

    def put(self, row: Mapping[str, Any], *, replace: bool = False) -> bool:
        """Write one row in its own transaction; an existing row of the same key is replaced with ``replace``,
        otherwise kept. Returns whether the row was written."""
        names = [n for n in self.columns if n in row]
        values = [json.dumps(row[n], sort_keys=True, default=str) if n in self.json_columns else row[n] for n in names]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self._conn.execute(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO {self.table} "
                                     f"({self._names(names)}) VALUES ({', '.join('?' for _ in names)})", values)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    def get(self, key: Sequence[Any]) -> dict[str, Any] | None:
        """The row of a key (values of the key columns), ``None`` if absent."""
        found = self.rows(**dict(zip(self.key, key)))
        return found[0] if found else None

    def rows(self, **equal: Any) -> list[dict[str, Any]]:
        """Every row, in key order, optionally only those whose columns equal the given values."""
        unknown = sorted(set(equal) - set(self.columns))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; valid fields: {list(self.columns)}")
        where = (" WHERE " + " AND ".join(f'"{k}" = ?' for k in equal)) if equal else ""
        cursor = self._conn.execute(f"SELECT * FROM {self.table}{where} ORDER BY {self._names(self.key)}",
                                    tuple(equal.values()))
        return [{k: (json.loads(r[k]) if k in self.json_columns and r[k] is not None else r[k]) for k in r.keys()}
                for r in cursor]


def read_keyed_csv(path: str | os.PathLike | None, key: Callable[[Mapping[str, str]], Any]) -> dict[Any, dict[str, str]]:
    """The rows of a CSV file as text, by ``key(row)``, in file order (``{}`` when there is no file)."""
    if path is None or not Path(path).exists():
        return {}
    with open(path, newline="") as fh:
        return {key(r): r for r in csv.DictReader(fh)}


def merge_keyed_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any],
                    columns: Sequence[str], update: Callable[[dict[str, str], Mapping[str, Any]], None] | None = None
                    ) -> None:
    """Merge ``rows`` into the CSV file at ``path`` (its rows keyed by ``key(row)``) and write it atomically (one
    writer at a time: a script's own file; :func:`upsert_rows` locks a shared one).

    A row of a new key is appended (``None`` written as an empty cell); a row of a known key updates the stored row
    with ``update(stored, row)`` (default: the row's values replace the stored ones). Rows keep their order; only
    ``columns`` are written."""
    merged = read_keyed_csv(path, key)
    for r in rows:
        k = key(r)
        if k not in merged:
            merged[k] = {c: ("" if v is None else v) for c, v in r.items()}
        elif update is not None:
            update(merged[k], r)
        else:
            merged[k].update({c: ("" if v is None else v) for c, v in r.items()})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(merged.values())
    atomic_write_text(path, buf.getvalue())
