"""sha256 manifests of shipped files (data the book reads): one ``manifest.csv`` per folder, checked strictly.

Used by: :mod:`greenaudio.measure.inference_speed` (``resources/speed``), :mod:`greenaudio.measure.speed`
(``resources/benchmarks``), :mod:`greenaudio.quantization.shipped` (``resources/quantization``),
:mod:`greenaudio.data.piper` (``resources/piper_trial``), and, with their richer columns (a configuration and a kind
per row), the trained zoo (:mod:`greenaudio.experiments.artefacts`) and the WaveFlow study
(:mod:`greenaudio.experiments.waveflow_study`). Every reader and verifier of these folders goes through this module.

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

import csv
import io
import math
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .experiments.artefacts import ArtefactError, sha256_file

__all__ = ["MANIFEST_COLUMNS", "MANIFEST_NAME", "IGNORED_FILES", "read_manifest", "file_row", "write_manifest",
           "verify_folder", "verify_listed_file", "check_listed_row", "distinct_values", "column_values"]

MANIFEST_COLUMNS = ["path", "bytes", "sha256", "provenance", "reproduce"]
#: The manifest's file name inside its folder.
MANIFEST_NAME = "manifest.csv"
#: Files a folder may hold without a manifest row, and why. Each must be an empty regular file (not a link).
IGNORED_FILES = {
    ".gitkeep (anywhere)": "an empty placeholder that keeps an otherwise empty folder in git",
    ".<name>.lock (top level)": "the empty advisory lock of greenaudio.experiments.artefacts.upsert_rows (gitignored)",
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
                 f"{', '.join(columns)}; rewrite it with greenaudio.manifests.write_manifest or restore it)")


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


def file_row(path: str | os.PathLike, provenance: str, reproduce: str) -> dict[str, object]:
    """The manifest row of one file: its name, size (bytes), sha256, provenance and reproducing command."""
    path = Path(path)
    return {"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path), "provenance": provenance,
            "reproduce": reproduce}


def write_manifest(folder: str | os.PathLike, rows: Sequence[Mapping[str, object]], *, replace: bool = False) -> Path:
    """Write ``folder/manifest.csv`` atomically: ``rows`` replace the rows of the same ``path`` (or, with
    ``replace``, the whole manifest); rows sorted by path. Returns the manifest's path.

    Raises:
        ArtefactError: the existing manifest is malformed (without ``replace``; it is not merged into)."""
    from .training import atomic_write_text

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
