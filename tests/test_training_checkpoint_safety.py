"""greenaudio.training checkpoints: read with ``weights_only=True`` (a pickled payload is refused, never run), a
truncated or corrupt file named in the error, a changed byte caught by the stored sha256, and no temporary file of a
killed save left behind for good. Old (format-1) checkpoints and the shipped zoo weights still load.

Facts checked: a marker file the payload would create, the path in the message, the files left in the run folder.
"""

from __future__ import annotations

import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from greenaudio import vocoders
from greenaudio.training import TrainConfig, load_checkpoint, train
from greenaudio.training.checkpoint import save_checkpoint
from greenaudio.training import checkpoint as ckpt
from greenaudio.training.checkpoint import read_checkpoint_state
from test_training_toys import ToyData, build_toy

torch.set_num_threads(1)

ZOO = Path(__file__).resolve().parents[1] / "lib" / "greenaudio" / "resources" / "zoo"


def _tiny_model() -> vocoders.Vocoder:
    torch.manual_seed(0)
    return vocoders.load("melgan", "small", ngf=4, n_residual_layers=1)


def _write_good(run_dir: Path) -> tuple[Path, vocoders.Vocoder]:
    model = _tiny_model()
    path = save_checkpoint(run_dir, {"model_config": model.config.to_dict(), "model": model.state_dict(), "step": 7})
    return path, model


class _Payload:
    """Pickles as a call of ``os.system`` (what a hostile checkpoint carries)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _write_hostile(path: Path, marker: Path) -> None:
    model = _tiny_model()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_config": model.config.to_dict(), "model": model.state_dict(), "step": 0,
                "format_version": 1, "note": _Payload(f"touch {marker}")}, path)


def _toy_cfg(run_dir: Path, steps: int) -> TrainConfig:
    return TrainConfig(run_dir=str(run_dir), seed=3, batch_size=4, max_steps=steps, checkpoint_every_steps=4,
                       checkpoint_every_s=None, validate_every_steps=4, progress=False)


# -- code in a checkpoint is never run ------------------------------------------------------------------------------
def test_a_pickled_payload_is_refused_by_name_and_never_run(tmp_path):
    marker, path = tmp_path / "payload-ran", tmp_path / "run" / "last.pt"
    _write_hostile(path, marker)
    for read in (read_checkpoint_state, load_checkpoint):
        with pytest.raises(ckpt.CheckpointError) as info:
            read(path)
        assert str(path) in str(info.value) and "posix.system" in str(info.value)
        assert not marker.exists()


def test_resume_from_a_hostile_checkpoint_does_not_run_it(tmp_path):
    marker, run = tmp_path / "payload-ran", tmp_path / "run"
    _write_hostile(run / "last.pt", marker)
    with pytest.raises(ckpt.CheckpointError, match="refused"):
        train(build_toy("toyflow", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(run, 4))
    assert not marker.exists()


def test_save_refuses_objects_other_than_tensors_and_plain_values(tmp_path):
    @dataclass
    class Settings:
        lr: float = 1e-3

    model = _tiny_model()
    with pytest.raises(ValueError, match=r"state\['extra'\]\['settings'\]"):
        save_checkpoint(tmp_path, {"model_config": model.config.to_dict(), "model": model.state_dict(),
                                   "extra": {"settings": Settings()}})
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_saved_checkpoints_need_nothing_beyond_weights_only(tmp_path):
    train(build_toy("toygan", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(tmp_path / "r", 4))
    path = tmp_path / "r" / "last.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
    state = torch.load(path, weights_only=True)  # plain torch, no allow-list
    assert state["step"] == 4 and isinstance(state["torch_version"], str)


# -- truncated and corrupt files are named --------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0.5, 0.05, 0.0])
def test_a_truncated_checkpoint_is_an_error_naming_the_file(tmp_path, keep):
    path, _ = _write_good(tmp_path / "run")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    for read in (read_checkpoint_state, load_checkpoint):
        with pytest.raises(ckpt.CheckpointError) as info:
            read(tmp_path / "run")
        assert str(path) in str(info.value)


def _tensor_record_offset(path: Path) -> tuple[int, int]:
    """Offset and size of the largest tensor record's bytes inside the checkpoint's zip (from its local header)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    signature, *_, name_len, extra_len = struct.unpack("<IHHHHHIIIHH", header)
    assert signature == 0x04034B50
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_one_flipped_byte_is_detected_and_the_file_named(tmp_path):
    path, model = _write_good(tmp_path / "run")
    offset, size = _tensor_record_offset(path)
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    for read in (read_checkpoint_state, load_checkpoint):
        with pytest.raises(ckpt.CheckpointError) as info:
            read(path)
        assert str(path) in str(info.value) and "sha256" in str(info.value)


def test_an_intact_checkpoint_round_trips(tmp_path):
    path, model = _write_good(tmp_path / "run")
    loaded = load_checkpoint(tmp_path / "run")
    assert loaded.step == 7
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


# -- temporary files of killed saves ----------------------------------------------------------------------------------
def _age(path: Path, seconds: float = 3600.0) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_the_next_save_removes_a_killed_saves_temporary_file_and_nothing_else(tmp_path):
    run = tmp_path / "run"
    _write_good(run)
    stale = run / ".last.pt.k1ll3d_x.tmp"  # what mkstemp named the temporary file of a save killed by SIGKILL
    stale.write_bytes(b"\0" * 4096)
    _age(stale)
    others = [run / "notes.tmp", run / ".last.pt.keep", run / ".config.json.k1ll3d_y.tmp.bak"]
    for other in others:
        other.write_bytes(b"mine")
        _age(other)
    _write_good(run)
    assert not stale.exists()
    assert all(p.read_bytes() == b"mine" for p in others)


def test_resume_removes_a_killed_saves_temporary_file(tmp_path):
    run = tmp_path / "run"
    train(build_toy("toyflow", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(run, 4))
    stale = run / ".last.pt.abcd1234.tmp"
    stale.write_bytes(b"\0" * 4096)
    _age(stale)
    # resume="auto" with a budget already spent: nothing to train, so no save: the clean-up is the resume's own
    result = train(build_toy("toyflow", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(run, 4))
    assert result.resumed_from_step == 4
    assert not stale.exists()


_HANGING_SAVE = textwrap.dedent(
    """
    import os, sys, time
    import torch
    from greenaudio.training import checkpoint
    real_fsync = os.fsync
    def hang(fd):
        print("WRITING", flush=True)
        time.sleep(120)
    os.fsync = hang
    checkpoint.atomic_write_bytes(sys.argv[1], b"x" * 100_000)
    """
)


def test_a_save_in_progress_is_left_alone_and_removed_once_killed(tmp_path):
    target = tmp_path / "run" / "last.pt"
    proc = subprocess.Popen([sys.executable, "-c", _HANGING_SAVE, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        (tmp,) = list(target.parent.glob(".last.pt.*.tmp"))
        assert ckpt.remove_stale_temporaries(target, min_age_s=0.0) == []  # locked by the writer: kept
        assert tmp.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert tmp.exists()  # the kill left it: the bug's 117 MB file
    assert ckpt.remove_stale_temporaries(target, min_age_s=0.0) == [tmp]
    assert not tmp.exists()


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        _write_good(tmp_path / "run")
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")] == []


# -- what must keep loading -----------------------------------------------------------------------------------------
def test_a_format_1_checkpoint_still_reads_and_resumes(tmp_path):
    """Written as the trainer did before: numpy's RNG tuple, torch.__version__ (a TorchVersion), no digest."""
    run = tmp_path / "run"
    train(build_toy("toyflow", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(run, 4))
    state = read_checkpoint_state(run)
    state.pop("sha256", None)
    random.seed(1)
    np.random.seed(1)
    state["rng"] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    state["torch_version"] = torch.__version__
    state["format_version"] = 1
    torch.save(state, run / "last.pt")
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(run / "last.pt"))
    assert any("numpy" in name for name in unsafe)  # really the old format
    back = read_checkpoint_state(run)
    assert isinstance(back["rng"]["numpy"][1], np.ndarray) and back["step"] == 4
    result = train(build_toy("toyflow", seed=3), ToyData(16), ToyData(4, seed=1), _toy_cfg(run, 8))
    assert result.resumed_from_step == 4 and result.step == 8
    assert read_checkpoint_state(run)["format_version"] == 2


def test_a_format_2_file_with_numpy_objects_is_refused(tmp_path):
    path, model = _write_good(tmp_path / "run")
    state = torch.load(path, weights_only=True)
    state["extra"] = np.arange(3)  # allowed only in format-1 files
    torch.save(state, path)
    with pytest.raises(ckpt.CheckpointError) as info:
        read_checkpoint_state(path)
    assert str(path) in str(info.value)


def test_every_shipped_weights_file_loads_without_pickle():
    """The zoo ships its weights as safetensors beside their JSON config (no pickle to run); each builds its model."""
    from greenaudio.shipped import load_shipped_model

    shipped = sorted(ZOO.glob("*/*/weights.safetensors"))
    assert shipped, "no shipped weights file found"
    assert not sorted(ZOO.glob("*/*/*.pt")), "a pickled checkpoint is shipped"
    for path in shipped:
        model = load_shipped_model(path.parent.name, protocol=path.parent.parent.name)
        assert f"{model.config.model}-{model.config.size}" == path.parent.name


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_bare_pickle_is_refused_by_name_and_never_run(tmp_path):
    """A file that is not a zip at all (a bare pickle, torch's pre-1.6 layout) is refused, named, and not run."""
    marker, path = tmp_path / "payload-ran", tmp_path / "last.pt"
    path.write_bytes(pickle.dumps(OrderedDict(x=_Payload(f"touch {marker}"))))
    with pytest.raises(ckpt.CheckpointError) as info:
        read_checkpoint_state(path)
    assert str(path) in str(info.value) and "refused" in str(info.value)
    assert not marker.exists()
