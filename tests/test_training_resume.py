"""A run killed with SIGKILL resumes from its last checkpoint and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from greenaudio.training import TrainConfig, train
from greenaudio.training.checkpoint import read_checkpoint_state
from test_training_toys import ToyData, build_toy

torch.set_num_threads(1)

TESTS = Path(__file__).resolve().parent
STEPS, EVERY = 40, 4

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from test_training_toys import ToyData, build_toy
    from greenaudio.training import TrainConfig, train
    cfg = TrainConfig(run_dir={run!r}, seed=3, batch_size=4, max_steps={steps}, checkpoint_every_steps={every},
                      checkpoint_every_s=None, validate_every_steps=8, progress=False)
    train(build_toy("toyflow", seed=3, sleep_s=0.03), ToyData(32), ToyData(8, seed=1), cfg)
    """
)


def _cfg(run_dir: Path) -> TrainConfig:
    return TrainConfig(run_dir=str(run_dir), seed=3, batch_size=4, max_steps=STEPS, checkpoint_every_steps=EVERY,
                       checkpoint_every_s=None, validate_every_steps=8, progress=False)


def _step_on_disk(run_dir: Path) -> int:
    try:
        return int(read_checkpoint_state(run_dir)["step"])
    except Exception:  # not written yet
        return -1


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    # the subprocess trains on 1 thread: so must this process (another test may have changed the global setting)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _sigkill_then_resume(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _sigkill_then_resume(tmp_path):
    killed_dir = tmp_path / "killed"
    script = SCRIPT.format(tests=str(TESTS), run=str(killed_dir), steps=STEPS, every=EVERY)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _step_on_disk(killed_dir) < 12:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the subprocess never reached step 12"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    at_kill = _step_on_disk(killed_dir)
    assert 12 <= at_kill < STEPS and at_kill % EVERY == 0

    resumed = train(build_toy("toyflow", seed=99, sleep_s=0.03), ToyData(32), ToyData(8, seed=1), _cfg(killed_dir))
    assert resumed.resumed_from_step == at_kill and resumed.step == STEPS

    reference = train(build_toy("toyflow", seed=3, sleep_s=0.03), ToyData(32), ToyData(8, seed=1),
                      _cfg(tmp_path / "straight"))
    a = read_checkpoint_state(killed_dir)
    b = read_checkpoint_state(tmp_path / "straight")
    for key in b["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])
    strip = lambda recs: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in recs]  # noqa: E731
    assert strip(resumed.records) == strip(reference.records)
    assert a["resumes"][0]["step"] == at_kill


def test_gan_resume_in_process_is_exact(tmp_path):
    def cfg(run, steps):
        return TrainConfig(run_dir=str(run), seed=5, batch_size=4, max_steps=steps, checkpoint_every_steps=6,
                           checkpoint_every_s=None, progress=False)

    train(build_toy("toygan", seed=5), ToyData(16), ToyData(4), cfg(tmp_path / "r", 6))
    train(build_toy("toygan", seed=0), ToyData(16), ToyData(4), cfg(tmp_path / "r", 12))  # weights from checkpoint
    train(build_toy("toygan", seed=5), ToyData(16), ToyData(4), cfg(tmp_path / "s", 12))
    a, b = read_checkpoint_state(tmp_path / "r"), read_checkpoint_state(tmp_path / "s")
    for part in ("model", "discriminator"):
        for key in b[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
