"""Strict verification of shipped folders (greenaudio.files.verify_folder and every verifier built on it): a
file the manifest does not list, a row whose path leaves the folder (``..``, an absolute path, a symbolic link) and
a malformed manifest (missing column, not UTF-8, empty, garbage) are each refused with one error of the package
naming the manifest or the file. Expected hashes come from hashlib, the expected verdicts from how each folder was
built; a property test feeds random folders and manifests."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from greenaudio import files as manifests
from greenaudio import shipped
from greenaudio.chapters import waveflow as waveflow_study
from greenaudio.orchestration import export
from greenaudio.files import ArtefactError

RESOURCES = Path(manifests.__file__).resolve().parent / "resources"
COLUMNS = ["path", "bytes", "sha256", "provenance", "reproduce"]
STUDY_COLUMNS = ["config", "kind", "path", "bytes", "sha256", "provenance", "reproduce"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_manifest(folder: Path, rows: list[dict], columns=COLUMNS) -> Path:
    """A manifest written with the csv module (not the code under test)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "x") for c in columns})
    path = folder / "manifest.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _row(path: str, data: bytes, **extra) -> dict:
    return {"path": path, "bytes": str(len(data)), "sha256": _sha(data), "provenance": "test", "reproduce": "none",
            **extra}


def _study(root: Path, files: dict[str, bytes], extra_rows: list[dict] = ()) -> Path:
    """A WaveFlow-study protocol folder ``root/mini`` listing ``files`` (and ``extra_rows``) with real hashes."""
    folder = root / "mini"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    rows = [_row(name, data, config="all", kind="scores") for name, data in files.items()] + list(extra_rows)
    _write_manifest(folder, rows, STUDY_COLUMNS)
    return folder


# -- unlisted files ---------------------------------------------------------------------------------------------------
def test_a_file_the_manifest_does_not_list_is_refused_and_named(tmp_path):
    folder = _study(tmp_path, {"scores.csv": b"config\nwf1\n", "wf1/curves.csv": b"step\n1\n"})
    assert len(waveflow_study.verify_study_manifest("mini", tmp_path)) == 2  # complete: accepted
    (folder / "wf1" / "stray.pt").write_bytes(b"not shipped")
    (folder / "notes.txt").write_bytes(b"")
    with pytest.raises(ArtefactError, match=r"does not list 2 file\(s\).*\['notes\.txt', 'wf1/stray\.pt'\]"):
        waveflow_study.verify_study_manifest("mini", tmp_path)


def test_empty_placeholders_and_lock_files_are_ignored_but_not_when_they_hold_data(tmp_path):
    folder = _study(tmp_path, {"scores.csv": b"config\nwf1\n"})
    (folder / "wf1").mkdir()
    (folder / "wf1" / ".gitkeep").write_bytes(b"")
    (folder / ".manifest.csv.lock").write_bytes(b"")  # what files.upsert_rows leaves beside the manifest
    (folder / ".scores.csv.lock").write_bytes(b"")
    assert len(waveflow_study.verify_study_manifest("mini", tmp_path)) == 1
    (folder / "wf1" / ".gitkeep").write_bytes(b"data")
    with pytest.raises(ArtefactError, match=r"does not list 1 file\(s\).*wf1/\.gitkeep"):
        waveflow_study.verify_study_manifest("mini", tmp_path)


def test_zoo_verification_refuses_an_unlisted_file_before_anything_else(tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "samples").mkdir()
    (folder / "samples" / "gt.flac").write_bytes(b"flac")
    _write_manifest(folder, [_row("samples/gt.flac", b"flac", config="ground_truth", kind="sample")], STUDY_COLUMNS)
    (folder / "melgan-small").mkdir()
    (folder / "melgan-small" / "weights.pt").write_bytes(b"unlisted weights")
    with pytest.raises(ArtefactError, match=r"does not list .*melgan-small/weights\.pt"):
        export.verify_artefacts("mini", tmp_path)


def test_a_single_shipped_file_is_refused_when_its_folder_holds_an_unlisted_one(tmp_path):
    from greenaudio.data.piper import load_piper_trial
    from greenaudio.quantization import shipped

    quant = tmp_path / "quantization"
    shutil.copytree(RESOURCES / "quantization", quant)
    assert len(shipped.load_shipped_ptq(quant)) > 0
    (quant / "ptq_gpu.csv").write_text("model\nhifigan\n")
    with pytest.raises(shipped.ShippedPTQError, match=r"does not list 1 file\(s\).*ptq_gpu\.csv"):
        shipped.load_shipped_ptq(quant)
    trial = tmp_path / "piper_trial"
    shutil.copytree(RESOURCES / "piper_trial", trial)
    (trial / "extra.json").write_text("{}")
    with pytest.raises(ArtefactError, match="extra.json"):
        load_piper_trial(trial)


# -- paths that leave the folder -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked-folder"])
def test_a_row_whose_path_leaves_the_folder_is_refused_even_when_its_hash_matches(tmp_path, how):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside the shipped folder")
    folder = _study(tmp_path / "root", {"scores.csv": b"config\n"})
    if how == "dotdot":
        path, match = "../../outside.txt", r"path '\.\./\.\./outside\.txt' leaves the folder"
    elif how == "absolute":
        path, match = str(outside), r"is absolute"
    elif how == "symlink":
        os.symlink(outside, folder / "link.txt")
        path, match = "link.txt", r"resolves to .*outside\.txt, outside the folder"
    else:
        os.symlink(tmp_path, folder / "elsewhere")
        path, match = "elsewhere/outside.txt", r"resolves to .*outside\.txt, outside the folder"
    rows = [_row("scores.csv", b"config\n", config="all", kind="scores"),
            _row(path, outside.read_bytes(), config="wf1", kind="curves")]
    _write_manifest(folder, rows, STUDY_COLUMNS)
    with pytest.raises(ArtefactError, match=match):
        waveflow_study.verify_study_manifest("mini", tmp_path / "root")


def test_trained_weights_listed_outside_the_zoo_folder_are_refused(tmp_path):
    from greenaudio.quantization.pipeline import find_trained_weights

    outside = tmp_path / "evil.pt"
    outside.write_bytes(b"weights from elsewhere")
    folder = tmp_path / "zoo"
    folder.mkdir()
    _write_manifest(folder, [_row("../evil.pt", outside.read_bytes(), config="melgan-small", kind="weights")],
                    STUDY_COLUMNS)
    with pytest.raises(ArtefactError, match="leaves the folder"):
        find_trained_weights("melgan", "small", folder)


# -- malformed manifests ---------------------------------------------------------------------------------------------
MALFORMED = {
    "missing path column": (b"bytes,sha256,provenance,reproduce\n3,abc,x,y\n", r"missing column\(s\) \['path'\]"),
    "not UTF-8": ("path,bytes,sha256,provenance,reproduce\nd\u00e9j\u00e0.csv,1,a,b,c\n".encode("latin-1"),
                  r"not UTF-8 text \(byte 0xe9 at offset 40\)"),
    "empty": (b"", "the file is empty"),
    "garbage text": (b"just some text\n", r"missing column\(s\) \['path', 'bytes', 'sha256'"),
    "garbage bytes": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
    "unbalanced quote": (b'path,bytes,sha256,provenance,reproduce\n"a.csv,1,2,3,4\n', r"not CSV"),
    "ragged line": (b"path,bytes,sha256,provenance,reproduce\na.csv,1\n", r"line 2 has 2 field\(s\), the header 5"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_manifest_gives_one_error_naming_it_and_what_is_wrong(tmp_path, case):
    content, match = MALFORMED[case]
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"x\n1\n")
    (folder / "manifest.csv").write_bytes(content)
    for check in (lambda: manifests.verify_listed_file(folder / "a.csv"),  # a shipped file's reader
                  lambda: manifests.verify_listed_file(folder / "a.csv", required=False),  # a user's own file
                  lambda: manifests.verify_folder(folder),  # the whole folder
                  lambda: manifests.read_manifest(folder)):  # the writers merge into what they read
        with pytest.raises(ArtefactError, match=match) as info:
            check()
        assert str(folder / "manifest.csv") in str(info.value)


@pytest.mark.parametrize("case", ["garbage text", "garbage bytes", "empty", "missing path column"])
@pytest.mark.parametrize("command", ["train", "waveflow-study"])
def test_the_verify_commands_name_a_malformed_manifest_instead_of_saying_there_is_none(tmp_path, capsys, case,
                                                                                      command):
    from greenaudio.cli import main

    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "manifest.csv").write_bytes(MALFORMED[case][0])
    option = "--export-root" if command == "train" else "--out-root"
    assert main([command, "--verify", "--protocol", "mini", option, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'mini' / 'manifest.csv'} is not a valid manifest" in err
    assert "no manifest.csv" not in err


# -- the shipped folders -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", ["benchmarks", "speed", "quantization", "piper_trial"])
def test_every_shipped_folder_verifies_strictly(folder):
    table = manifests.verify_folder(RESOURCES / folder)
    # every file but the manifest and the empty top-level locks a shipping run leaves (gitignored, documented in
    # files.IGNORED_FILES) is listed
    on_disk = sorted(p.relative_to(RESOURCES / folder).as_posix() for p in (RESOURCES / folder).rglob("*")
                     if p.is_file() and p.name != "manifest.csv"
                     and not (p.parent == RESOURCES / folder and p.name.startswith(".") and p.name.endswith(".lock")))
    assert sorted(table["path"]) == on_disk


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_atomic_write_gives_a_new_file_the_mode_of_a_plain_write_and_keeps_an_existing_files(tmp_path, umask):
    # mkstemp creates its temporary file 0600; the file it becomes must not be (a shipped CSV unreadable by others)
    old = os.umask(umask)
    try:
        plain, atomic = tmp_path / "plain.csv", tmp_path / "atomic.csv"
        plain.write_text("a\n")
        manifests.atomic_write_text(atomic, "a\n")
        assert (atomic.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777) == 0o666 & ~umask
        atomic.chmod(0o640)
        manifests.atomic_write_text(atomic, "b\n")
        assert atomic.stat().st_mode & 0o777 == 0o640 and atomic.read_text() == "b\n"
    finally:
        os.umask(old)


def test_the_shipped_zoo_and_study_verify_and_only_the_zoo_scores_are_left_unlisted():
    study = waveflow_study.verify_study_manifest("mini")
    on_disk = {p.relative_to(RESOURCES / "waveflow_study" / "mini").as_posix()
               for p in (RESOURCES / "waveflow_study" / "mini").rglob("*") if p.is_file()}
    assert set(study["path"]) == on_disk - {"manifest.csv"}
    zoo = RESOURCES / "zoo" / "mini"
    table = manifests.verify_folder(zoo, columns=STUDY_COLUMNS, allow=shipped.UNLISTED_FILES)
    unlisted = {p.relative_to(zoo).as_posix() for p in zoo.rglob("*") if p.is_file()} - set(table["path"])
    assert unlisted == {"manifest.csv", "scores.csv"} and set(shipped.UNLISTED_FILES) == {"scores.csv"}


# -- property: any folder and manifest is accepted exactly when it is right, or refused with a reason ------------------
NAMES = ["a.csv", "b.txt", "sub/c.csv", "sub/deep/d.bin"]
PATH_KINDS = ["file", "missing", "dotdot", "absolute", "dotted", "link", "manifest", "empty",
              "backslash"]
SHA_KINDS = ["right", "upper", "wrong", "garbage", "blank"]
BYTES_KINDS = ["right", "wrong", "garbage", "blank"]

_extra_row = st.tuples(st.just("row"), st.sampled_from(PATH_KINDS), st.sampled_from(NAMES), st.sampled_from(SHA_KINDS),
                       st.sampled_from(BYTES_KINDS))
_change = st.one_of(
    _extra_row,
    st.tuples(st.just("drop"), st.sampled_from(COLUMNS)),  # a required column missing
    st.sampled_from([("unlist",), ("symlink",), ("gitkeep-full",), ("raw",), ("truncate",),  # wrong or unknown
                     ("gitkeep-empty",), ("lock-empty",), ("extra-column",), ("upper",)]),  # harmless
)
#: A folder of files listed one row each with their right hash and size, then up to three changes.
layout_strategy = st.fixed_dictionaries({
    "files": st.dictionaries(st.sampled_from(NAMES), st.binary(max_size=40), max_size=4),
    "changes": st.lists(_change, max_size=3),
    "raw": st.binary(max_size=80),
    "cut": st.integers(0, 400),
})


def _build(folder: Path, outside: Path, layout: dict) -> tuple[bytes, bool | None]:
    """Make the folder and its manifest; returns the manifest's bytes and whether it should be accepted (None:
    unknown, for random or truncated bytes)."""
    files, changes = layout["files"], layout["changes"]
    kinds = {c[0] for c in changes}
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if "symlink" in kinds:
        os.symlink(outside, folder / "link.csv")
    if kinds & {"gitkeep-empty", "gitkeep-full"}:
        (folder / "sub").mkdir(exist_ok=True)
        (folder / "sub" / ".gitkeep").write_bytes(b"x" if "gitkeep-full" in kinds else b"")
    if "lock-empty" in kinds:
        (folder / ".manifest.csv.lock").write_bytes(b"")
    entries = [("row", "file", name, "upper" if "upper" in kinds else "right", "right") for name in files]
    if "unlist" in kinds and entries:
        entries = entries[1:]
    ok = not kinds & {"symlink", "gitkeep-full", "drop"}
    rows, listed = [], []
    for _, kind, name, sha_kind, bytes_kind in entries + [c for c in changes if c[0] == "row"]:
        data = outside.read_bytes() if kind in ("dotdot", "absolute", "link") else files.get(name, b"?")
        path = {"file": name if name in files else "nope.csv", "missing": "nope.csv", "dotdot": "../outside.txt",
                "absolute": str(outside), "dotted": f"sub/../{name}", "link": "link.csv", "manifest": "manifest.csv",
                "empty": "", "backslash": name.replace("/", "\\") if "/" in name else "x\\" + name}[kind]
        sha = {"right": _sha(data), "upper": _sha(data).upper(), "wrong": _sha(data + b"!"), "garbage": "xyz",
               "blank": ""}[sha_kind]
        size = {"right": str(len(data)), "wrong": str(len(data) + 1), "garbage": "12a", "blank": ""}[bytes_kind]
        ok = ok and (kind == "file" and name in files and sha_kind in ("right", "upper") and bytes_kind == "right"
                     and path not in listed)
        listed.append(path)
        rows.append({"path": path, "bytes": size, "sha256": sha, "provenance": "p", "reproduce": "r", "note": "n"})
    ok = ok and set(files) <= set(listed)  # every file listed (an extra row may list the unlisted one again)
    dropped = {c[1] for c in changes if c[0] == "drop"}
    columns = [c for c in COLUMNS if c not in dropped] + (["note"] if "extra-column" in kinds else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    content = buf.getvalue().encode("utf-8")
    if "raw" in kinds:
        content, ok = layout["raw"], None  # unknown: only "accepted means right" is checked
    elif "truncate" in kinds and layout["cut"] < len(content):
        content, ok = content[: layout["cut"]], None
    (folder / "manifest.csv").write_bytes(content)
    return content, ok


def _right(folder: Path, content: bytes) -> bool:
    """Independently of the code: the manifest parses (csv module) with the columns, lists each file of the folder
    once (apart from itself and empty placeholders) by a plain relative path that stays inside the folder, with its
    hashlib sha256 and size."""
    try:
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return False
    if not rows and not content.strip():
        return False
    present = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rel = (Path(dirpath) / name).relative_to(folder).as_posix()
            empty = not (folder / rel).is_symlink() and (folder / rel).stat().st_size == 0
            if rel != "manifest.csv" and not (empty and (name == ".gitkeep" or (rel.startswith(".")
                                                                                and rel.endswith(".lock")))):
                present.add(rel)
    paths = [r.get("path") for r in rows]
    if len(set(paths)) != len(paths) or set(paths) != present:
        return False
    for r in rows:
        if None in r.values() or None in r or any(c not in r for c in COLUMNS):
            return False
        p = r["path"]
        if not p or p.startswith("/") or "\\" in p or any(part in ("", ".", "..") for part in p.split("/")):
            return False
        full = folder / p
        if full.is_symlink() or not str(full.resolve()).startswith(str(folder.resolve()) + os.sep):
            return False
        if r["sha256"].lower() != _sha(full.read_bytes()) or r["bytes"] != str(full.stat().st_size):
            return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layout_strategy)
def test_random_manifests_are_accepted_exactly_when_right_or_refused_with_a_reason(layout):
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp) / "outside.txt"
        outside.write_bytes(b"a file outside the shipped folder")
        folder = Path(tmp) / "shipped"
        folder.mkdir()
        content, expected = _build(folder, outside, layout)
        try:
            manifests.verify_folder(folder)
            accepted = True
        except ArtefactError as exc:  # any other exception fails the test
            assert str(exc).strip(), "a refusal must say why"
            accepted = False
        if accepted:
            assert _right(folder, content), "accepted a folder its manifest does not describe"
        if expected is not None:
            assert accepted == expected
        event(f"expected {expected}, accepted {accepted}")
