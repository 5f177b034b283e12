#!/usr/bin/env python3
"""The GPU check of issue #26 (item 5): does greenaudio run, and agree with itself, on a CUDA GPU?

Run it through ``bash scripts/gpu_check.sh`` (which sets ``PYTHONPATH=lib``); on a machine where nothing can be
installed it needs only Python, torch, numpy, pandas and nvidia-ml-py (for the energy counter), plus the package's
source and CSV resources (``lib/greenaudio`` without the trained zoo: about 2 MB). Steps:

(a) **equality**: each configuration (6 families x 3 sizes) is built with a fixed seed (its zero-initialised weights,
    the flows' last coupling layers and DiffWave's output projection, then get seeded N(0, 0.02^2) values, so that
    every layer reaches the output), copied to the GPU and fed the same deterministic random mel (``--clip-s``
    seconds, default 0.25); flows and diffusion get their noise from a seeded *CPU* ``torch.Generator`` on both
    sides (the families draw on the generator's device and move the draw, so the noise is identical). The GPU
    output is compared with the CPU output of the same path, plain (``generate``) and prepared
    (``prepare_for_inference()``, run on the GPU), and the GPU's prepared output with its plain one. A row passes
    when the relative L2 difference is <= ``--rel-tol`` (1e-3) and the largest absolute difference <= ``--abs-tol``
    x max(1, peak of the reference) (1e-3), with TF32 disabled (float32 throughout).
(b) **training**: one optimisation step per family (small size, a batch of 2 random 16-frame clips) on the GPU
    through the project's trainer, ``greenaudio.training.train(max_steps=1)`` on in-memory data (GANs:
    a discriminator and a generator step); passes when the step ran, every loss is finite and the weights changed.
(c) **energy**: ``greenaudio.measure.benchmark_model`` of the six small configurations on the GPU with
    ``energy_mode="measured"`` (the NVML energy counter; the harness raises rather than estimate), under the thesis's
    protocol (clips of 10 s, 1 warm-up and 3 timed runs; idle baseline over 2 s) with at least the thesis's 10 clips
    per run and more when a run would last less than ``--energy-min-run-s`` (1 s: the counter advances in steps, and
    a run of a few milliseconds would read mostly their granularity); energies per 100 s of audio stay comparable.
    The method is recorded exactly as the harness returns it; a row passes only when it starts with ``measured:``,
    includes the NVML counter and is > 0 J.

Everything is written under one folder (``--out``, default ``./gpu-check-<UTC date and time>``): ``equality.csv``,
``training_step.csv``, ``energy.csv``, ``environment.json`` and ``manifest.csv`` (path, bytes, sha256, command of
every other file), each written atomically and rewritten after every row (a run killed half-way leaves what it did).

``--budget-s`` (default 480 s, counted from the start of the script) is checked before every unit of work; a unit
is not started when the slowest unit of its kind so far would not fit. Work is ordered so that a short budget still
covers every step: (a) for the small size, then (b), (c), then (a) for the other sizes. What the budget cut is
written with status ``skipped: time budget``.

``--dry-run`` runs every step on the CPU with tiny sizes (small configurations only, 4-frame clips; energy under a
1-clip protocol, which on a CPU is an estimate: recorded as the harness labels it); the cross-device rows then
compare the CPU with itself, so the plain-vs-prepared rows are what it checks. ``--simulate-bare`` makes every
module and distribution outside the standard library and the packages of a bare CUDA machine (torch and its
requirements, numpy, pandas and its requirements, nvidia-ml-py) look absent: how the test suite checks that nothing
else is needed. Where the package
imports an optional module on this path (``tqdm`` for the trainer's progress bars, ``librosa`` for the mel filter
bank of HiFi-GAN's training loss), the script installs a stand-in when the module is absent and records it in
``environment.json`` (``stand_ins``).

Exit status: 0 every check passed; 1 a check failed or raised; 2 bad arguments (unknown option, a device that is
not CUDA without ``--dry-run``, CUDA unavailable, a non-empty output folder), before any work; 3 the time budget (or
SIGTERM) stopped the run before the end and nothing that ran failed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import datetime as _dt
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import math
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path
from typing import Any, Callable

T0 = time.monotonic()
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3
ROOT = Path(__file__).resolve().parents[1]

MODELS = ("melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow")
SIZES = ("small", "medium", "large")
SKIPPED = "skipped: time budget"

EQUALITY_COLUMNS = ["model", "size", "path", "device", "reference", "frames", "samples", "procedure",
                    "filled_zero_weights", "rel_l2",
                    "max_abs", "peak", "tolerance", "max_abs_tolerance", "passed", "status", "seconds",
                    "reference_seconds", "error"]
TRAINING_COLUMNS = ["model", "size", "family", "device", "method", "batch_size", "frames", "steps", "loss",
                    "d_loss", "val_loss", "loss_finite", "params_changed", "passed", "status", "seconds",
                    "seconds_per_step", "error"]
ENERGY_COLUMNS = ["model", "size", "device", "n_clips", "clip_s_measured", "energy_method", "measured",
                  "energy_j_per_run", "e_gen_j_per_100_audio_s", "audio_s_per_run", "energy_repeats",
                  "energy_duration_s", "energy_idle_power_w", "energy_domains", "energy_device_model",
                  "energy_tool", "rtf_median", "time_median_s", "gflops_per_audio_s", "procedure", "protocol_key",
                  "energy_notes", "passed", "status", "seconds", "error"]

#: Their distributions (``importlib.metadata`` names; ``nvidia-*`` too: CUDA wheels and nvidia-ml-py).
BARE_MACHINE_DISTRIBUTIONS = frozenset({
    "torch", "triton", "filelock", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe",
    "fsspec", "setuptools", "numpy", "pandas", "python-dateutil", "pytz", "tzdata", "six", "greenaudio",
})

#: Most clips per timed run of the energy measurement (``--energy-min-run-s`` asks for more clips on a fast GPU).
MAX_ENERGY_CLIPS = 1000

#: Top-level modules a bare CUDA machine has besides the standard library: torch and its requirements (and its
#: optional CUDA packages), numpy, pandas and its requirements, nvidia-ml-py, the package itself.
BARE_MACHINE_MODULES = frozenset({
    "torch", "torchgen", "functorch", "triton", "nvidia", "cuda", "filelock", "typing_extensions", "sympy", "mpmath",
    "networkx", "jinja2", "markupsafe", "fsspec", "setuptools", "pkg_resources", "_distutils_hack",
    "numpy", "pandas", "dateutil", "pytz", "tzdata", "six", "pynvml", "greenaudio",
})


# -- arguments ------------------------------------------------------------------------------------------------------
class UsageError(Exception):
    """Bad arguments: reported with exit status 2 before any work."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors (unknown option...): exit 2 with the message
        self.print_usage(sys.stderr)
        sys.stderr.write(f"gpu_check: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="gpu_check", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="output folder (created; must be empty if it exists); default ./gpu-check-<date>")
    p.add_argument("--device", default=None, help="cuda or cuda:N (default cuda; --dry-run: cpu, the only choice)")
    p.add_argument("--dry-run", action="store_true", help="every step on the CPU with tiny sizes")
    p.add_argument("--budget-s", type=_positive_float, default=480.0, help="time budget in seconds (default 480)")
    p.add_argument("--models", nargs="+", default=list(MODELS), metavar="MODEL", help=f"subset of {list(MODELS)}")
    p.add_argument("--sizes", nargs="+", default=None, metavar="SIZE",
                   help=f"subset of {list(SIZES)} for the equality check (default all; --dry-run: small)")
    p.add_argument("--clip-s", type=_positive_float, default=None,
                   help="clip length of the equality check in s (default 0.25; --dry-run: 0.064, 4 frames)")
    p.add_argument("--rel-tol", type=_positive_float, default=1e-3, help="relative L2 tolerance (default 1e-3)")
    p.add_argument("--abs-tol", type=_positive_float, default=1e-3,
                   help="max abs difference tolerance, times max(1, peak of the reference) (default 1e-3)")
    p.add_argument("--energy-min-run-s", type=float, default=None,
                   help="seconds each timed run of the energy measurement should last at least: more clips of 10 s "
                        "than the thesis's 10 when the GPU is faster (default 1.0; --dry-run: 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own choice; --dry-run: 1, tiny sizes gain nothing from "
                        "more and a shared CPU loses much)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, mels and noise (default 0)")
    p.add_argument("--simulate-bare", action="store_true",
                   help="block imports outside the standard library, torch, numpy, pandas and nvidia-ml-py")
    args = p.parse_args(argv)
    for name, given, valid in (("--models", args.models, MODELS), ("--sizes", args.sizes or [], SIZES)):
        bad = [v for v in given if v.lower() not in valid]
        if bad:
            p.error(f"{name}: unknown value(s) {bad}; valid: {list(valid)}")
    args.models = [m for m in MODELS if m in {v.lower() for v in args.models}]
    default_sizes = ["small"] if args.dry_run else list(SIZES)
    args.sizes = [s for s in SIZES if s in {v.lower() for v in (args.sizes or default_sizes)}]
    if args.energy_min_run_s is None:
        args.energy_min_run_s = 0.0 if args.dry_run else 1.0
    if not math.isfinite(args.energy_min_run_s) or args.energy_min_run_s < 0:
        p.error(f"--energy-min-run-s must be a number >= 0, got {args.energy_min_run_s!r}")
    if args.clip_s is None:
        args.clip_s = 0.064 if args.dry_run else 0.25
    if args.threads is None and args.dry_run:
        args.threads = 1
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be an integer >= 1, got {args.threads}")
    return args


def check_device_args(args: argparse.Namespace) -> None:
    """The device rules that need no torch: raises :class:`UsageError`."""
    if args.dry_run:
        if args.device not in (None, "cpu"):
            raise UsageError(f"--device {args.device!r} with --dry-run: the dry run runs on the CPU only "
                             "(leave --device out, or give --device cpu)")
        args.device = "cpu"
        return
    device = (args.device or "cuda").strip().lower()
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise UsageError(f"--device {args.device!r}: the GPU check needs a CUDA device (cuda or cuda:N); "
                         "use --dry-run to run every step on the CPU")
    args.device = f"cuda:{int(index or 0)}"


def check_cuda(args: argparse.Namespace, torch: Any) -> None:
    """CUDA present, and the device index exists: raises :class:`UsageError`."""
    if args.dry_run:
        return
    if not torch.cuda.is_available():
        raise UsageError(f"CUDA is not available (torch {torch.__version__}, built with CUDA "
                         f"{torch.version.cuda or 'none'}): the GPU check needs a CUDA GPU; "
                         "use --dry-run to run every step on the CPU")
    count = torch.cuda.device_count()
    if int(args.device.partition(":")[2]) >= count:
        raise UsageError(f"--device {args.device!r} does not exist: {count} CUDA device(s), valid: "
                         f"{['cuda'] + [f'cuda:{i}' for i in range(count)]}")


def resolve_out(args: argparse.Namespace) -> Path:
    if args.out is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path.cwd() / f"gpu-check-{stamp}"
    else:
        out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {str(out)!r} is not empty: give an empty or new folder")
    return out


# -- imports of a bare machine --------------------------------------------------------------------------------------
class BareMachineImports:
    """Make the modules a bare CUDA machine would not have unfindable (``--simulate-bare``), as if not installed.

    Every finder of ``sys.meta_path`` is wrapped so that it finds nothing outside the standard library and
    :data:`BARE_MACHINE_MODULES`: ``import x`` raises ``ModuleNotFoundError`` and ``importlib.util.find_spec("x")``
    returns ``None``, exactly as for an absent package. The names asked for are remembered (``blocked``)."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def allows(self, fullname: str) -> bool:
        top = fullname.partition(".")[0]
        if (top in sys.stdlib_module_names or top in sys.builtin_module_names or top in BARE_MACHINE_MODULES
                or top.startswith(("_cython_", "_sysconfigdata"))):
            return True
        if top not in self.blocked:
            self.blocked.append(top)
        return False

    def install(self) -> None:
        sys.meta_path[:] = [_FilteredFinder(finder, self) for finder in sys.meta_path]
        importlib.invalidate_caches()


class _FilteredFinder(importlib.abc.MetaPathFinder):
    def __init__(self, inner: Any, gate: BareMachineImports):
        self.inner, self.gate = inner, gate

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not self.gate.allows(fullname) or not hasattr(self.inner, "find_spec"):
            return None
        return self.inner.find_spec(fullname, path, target)

    def invalidate_caches(self) -> None:
        if hasattr(self.inner, "invalidate_caches"):
            self.inner.invalidate_caches()

    def find_distributions(self, *args: Any, **kwargs: Any) -> Any:
        """``importlib.metadata``'s view: only the distributions of a bare machine are installed."""
        find = getattr(self.inner, "find_distributions", None)
        if find is None:
            return iter(())
        return (d for d in find(*args, **kwargs) if _bare_distribution(d.metadata["Name"] or ""))


def _bare_distribution(name: str) -> bool:
    name = name.lower().replace("_", "-").replace(".", "-")
    return name in BARE_MACHINE_DISTRIBUTIONS or name.startswith("nvidia-")


STAND_INS: dict[str, str] = {}


def _stand_in_module(name: str, package: bool = False) -> types.ModuleType:
    """An empty module with a spec (torch's ``find_spec`` checks of loaded modules need one), not a file."""
    spec = importlib.machinery.ModuleSpec(name, None, origin="scripts/gpu_check.py (stand-in)", is_package=package)
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__path__ = []  # a package: its submodule (also a stand-in) is found in sys.modules
    return module


def _tqdm_stand_in() -> None:
    """A no-op ``tqdm`` (the trainer imports ``tqdm.auto`` for progress bars, which it disables here)."""
    try:
        import tqdm.auto  # noqa: F401
        return
    except ImportError:
        pass

    class tqdm:  # noqa: N801 - the name the trainer imports
        def __init__(self, iterable: Any = None, *args: Any, **kwargs: Any) -> None:
            self.iterable = iterable

        def __iter__(self):
            return iter(self.iterable if self.iterable is not None else ())

        def update(self, n: int = 1) -> None:
            pass

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            pass

        def close(self) -> None:
            pass

    package, auto = _stand_in_module("tqdm", package=True), _stand_in_module("tqdm.auto")
    package.tqdm = auto.tqdm = tqdm
    package.auto = auto
    sys.modules["tqdm"], sys.modules["tqdm.auto"] = package, auto
    STAND_INS["tqdm"] = "not importable: a no-op tqdm.auto.tqdm for the trainer's progress bars (progress=False)"


def slaney_mel_filters(*, sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                       htk: bool = False, norm: Any = "slaney", dtype: Any = None):
    """``librosa.filters.mel`` for ``htk=False, norm="slaney"`` (the Slaney mel scale and area normalisation), in
    numpy: triangular filters between mel-spaced frequencies over the ``1 + n_fft // 2`` FFT bins."""
    import numpy as np

    if htk or norm != "slaney":
        raise NotImplementedError("the stand-in implements librosa.filters.mel(htk=False, norm='slaney') only")
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0

    def hz_to_mel(f: float) -> float:
        return f / f_sp if f < min_log_hz else min_log_mel + math.log(f / min_log_hz) / logstep

    def mel_to_hz(m: Any) -> Any:
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fmax = sr / 2.0 if fmax is None else float(fmax)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(float(fmin)), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32 if dtype is None else dtype)


def _librosa_stand_in() -> None:
    """``librosa.filters.mel`` (the only librosa call on this path: HiFi-GAN's mel loss front end) if absent."""
    try:
        import librosa  # noqa: F401
        return
    except ImportError:
        pass
    package, filters = _stand_in_module("librosa", package=True), _stand_in_module("librosa.filters")
    filters.mel = slaney_mel_filters
    package.filters = filters
    sys.modules["librosa"], sys.modules["librosa.filters"] = package, filters
    STAND_INS["librosa"] = ("not importable: librosa.filters.mel(htk=False, norm='slaney') re-implemented in numpy "
                            "(scripts/gpu_check.py:slaney_mel_filters) for HiFi-GAN's mel-loss front end")


#: Standard deviation of the seeded normal values given to zero-initialised weights before the equality check.
FILL_STD = 0.02


def fill_zero_weights(model: Any, seed: int) -> int:
    """Give every all-zero weight tensor (not biases) seeded N(0, FILL_STD^2) values; returns how many.

    Fresh presets zero-initialise the last layer of each flow coupling (WaveGlow's ``end``, WaveFlow's ``proj``) and
    DiffWave's output projection, as their papers do: the coupling networks are then the identity on the noise and
    DiffWave predicts zero noise, so an equality check of fresh models would not reach most of their layers."""
    import torch

    generator = torch.Generator().manual_seed(seed + 2)
    filled = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or not p.is_floating_point() or p.numel() == 0 or p.any():
                continue
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float32) * FILL_STD)
            filled += 1
    return filled


# -- output ---------------------------------------------------------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep the results from whoever collects them
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else value


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    atomic_write_text(path, buf.getvalue())


def write_manifest(out: Path, command: str) -> None:
    from greenaudio.files import sha256_file  # numpy only: importable on a bare machine

    rows = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.csv"
                       and not p.name.startswith(".")):
        rows.append({"path": path.relative_to(out).as_posix(), "bytes": path.stat().st_size,
                     "sha256": sha256_file(path), "command": command})
    write_csv(out / "manifest.csv", ["path", "bytes", "sha256", "command"], rows)


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".replace("\n", " ")[:600]


class Stopped(BaseException):
    """SIGTERM arrived: stop, write what was done."""


# -- the run --------------------------------------------------------------------------------------------------------
class Budget:
    """Wall-clock budget from the script's start; a unit starts only if the slowest of its kind so far fits."""

    RESERVE_S = 5.0  # writing the manifest and the summary

    def __init__(self, total_s: float):
        self.total_s = total_s
        self.slowest: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - T0

    def allows(self, kind: str) -> bool:
        expected = self.slowest.get(kind)
        if expected is None:  # the first unit of a kind (equality-medium): the slowest of its family of kinds
            family = kind.partition("-")[0]
            expected = max((v for k, v in self.slowest.items() if k.partition("-")[0] == family), default=0.0)
        return self.elapsed() + expected + self.RESERVE_S <= self.total_s

    def spent(self, kind: str, seconds: float) -> None:
        self.slowest[kind] = max(self.slowest.get(kind, 0.0), seconds)


class Check:
    def __init__(self, args: argparse.Namespace, out: Path, command: str, blocker: BareMachineImports | None):
        import torch

        self.torch, self.args, self.out, self.command, self.blocker = torch, args, out, command, blocker
        self.device = torch.device(args.device)
        self.budget = Budget(args.budget_s)
        self.rows: dict[str, list[dict[str, Any]]] = {"equality": [], "training_step": [], "energy": []}
        self.columns = {"equality": EQUALITY_COLUMNS, "training_step": TRAINING_COLUMNS, "energy": ENERGY_COLUMNS}
        self.step_seconds: dict[str, float] = {}
        self.stopped: str | None = None
        self.stopping = False  # a SIGTERM arrived: later ones are ignored while what was done is written
        self.done: set[tuple[str, Any, Any]] = set()
        self.environment: dict[str, Any] = {}

    # ---- helpers
    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def free(self) -> None:
        import gc

        gc.collect()
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()

    def record(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)
        order = {m: i for i, m in enumerate(MODELS)}
        sizes = {s: i for i, s in enumerate(SIZES)}
        paths = {"plain": 0, "prepared": 1, "plain-vs-prepared": 2}
        self.rows[table].sort(key=lambda r: (sizes.get(r["size"], 9), order.get(r["model"], 9),
                                             paths.get(r.get("path", ""), 9)))
        write_csv(self.out / f"{table}.csv", self.columns[table], self.rows[table])

    def run_unit(self, table: str, kind: str, base: dict[str, Any], fn: Callable[[], list[dict[str, Any]]],
                 skipped_rows: list[dict[str, Any]]) -> None:
        """Run one unit of work under the budget; its rows, an error row, or rows marked skipped."""
        key = (table, base.get("model"), base.get("size"))
        if key in self.done:  # a phase restarted after SIGTERM: this unit already has its rows
            return
        self.done.add(key)
        if self.stopped or not self.budget.allows(kind):
            self.stopped = self.stopped or "time budget"
            for extra in skipped_rows:
                self.record(table, {**base, **extra, "status": SKIPPED if self.stopped == "time budget"
                                    else f"skipped: {self.stopped}", "passed": ""})
            return
        started = time.perf_counter()
        label = " ".join(str(base[k]) for k in ("model", "size") if k in base)
        try:
            rows = fn()
        except Stopped:
            self.stopped = "SIGTERM"
            for extra in skipped_rows:
                self.record(table, {**base, **extra, "status": "skipped: SIGTERM", "passed": ""})
            return
        except Exception as err:  # one configuration's failure must not hide the others'
            traceback.print_exc()
            rows = [{**extra, "status": "error", "passed": False, "error": _error_text(err),
                     "seconds": time.perf_counter() - started} for extra in skipped_rows]
        finally:
            self.free()
        seconds = time.perf_counter() - started
        self.budget.spent(kind, seconds)
        for row in rows:
            self.record(table, {**base, **row})
        verdict = "ok" if all(r.get("passed") is True for r in rows) else "FAILED"
        print(f"  {table:14s} {label:18s} {verdict:6s} {seconds:6.1f} s", flush=True)

    # ---- (a) equality
    def equality(self, name: str, size: str) -> list[dict[str, Any]]:
        torch, args = self.torch, self.args
        from greenaudio import vocoders

        cpu, dev = torch.device("cpu"), self.device
        torch.manual_seed(args.seed)
        model = vocoders.load(name, size).eval()
        filled = fill_zero_weights(model, args.seed)
        frames = max(1, math.ceil(args.clip_s * model.sample_rate / model.hop_length - 1e-9))
        mel = torch.rand(1, model.n_mels, frames, generator=torch.Generator().manual_seed(args.seed))

        def generate(m: Any, device: Any) -> tuple[Any, float, dict[str, Any]]:
            noise = torch.Generator().manual_seed(args.seed + 1)  # a CPU generator on both sides: the same draws
            self.sync()
            t = time.perf_counter()
            out = m.generate(mel.to(device), generator=noise)
            self.sync()
            return out.audio.detach().to("cpu", torch.float64), time.perf_counter() - t, out.procedure

        ref_plain, t_ref_plain, procedure = generate(model, cpu)
        on_dev = copy.deepcopy(model).to(dev)
        dev_plain, t_dev_plain, _ = generate(on_dev, dev)
        del on_dev
        prepared = copy.deepcopy(model).prepare_for_inference()
        ref_prep, t_ref_prep, _ = generate(prepared, cpu)
        del prepared
        on_dev = copy.deepcopy(model).to(dev).prepare_for_inference()  # prepared on the device itself
        dev_prep, t_dev_prep, _ = generate(on_dev, dev)
        del on_dev, model
        common = {"device": str(dev), "frames": frames, "samples": int(ref_plain.shape[-1]), "procedure": procedure,
                  "filled_zero_weights": filled}
        return [
            {**common, **self.compare(ref_plain, dev_plain), "path": "plain", "reference": "cpu:plain",
             "seconds": t_dev_plain, "reference_seconds": t_ref_plain},
            {**common, **self.compare(ref_prep, dev_prep), "path": "prepared", "reference": "cpu:prepared",
             "seconds": t_dev_prep, "reference_seconds": t_ref_prep},
            {**common, **self.compare(dev_plain, dev_prep), "path": "plain-vs-prepared",
             "reference": f"{dev}:plain", "seconds": t_dev_prep, "reference_seconds": t_dev_plain},
        ]

    def compare(self, reference: Any, other: Any) -> dict[str, Any]:
        torch, args = self.torch, self.args
        if reference.shape != other.shape:
            return {"status": "failed", "passed": False, "tolerance": args.rel_tol,
                    "error": f"shapes differ: {tuple(reference.shape)} vs {tuple(other.shape)}"}
        finite = bool(torch.isfinite(reference).all() and torch.isfinite(other).all())
        diff = other - reference
        norm = float(reference.norm())
        diff_norm = float(diff.norm())
        rel = diff_norm / norm if norm > 0 else (0.0 if diff_norm == 0 else math.inf)
        max_abs = float(diff.abs().max()) if diff.numel() else 0.0
        peak = float(reference.abs().max()) if reference.numel() else 0.0
        abs_tol = args.abs_tol * max(1.0, peak)
        passed = finite and rel <= args.rel_tol and max_abs <= abs_tol
        return {"rel_l2": rel, "max_abs": max_abs, "peak": peak, "tolerance": args.rel_tol,
                "max_abs_tolerance": abs_tol, "passed": passed, "status": "ok" if passed else "failed",
                "error": "" if finite else "non-finite output"}

    # ---- (b) one training step
    def training_step(self, name: str) -> list[dict[str, Any]]:
        torch, args = self.torch, self.args
        from greenaudio import vocoders
        from greenaudio.training import TrainConfig, train

        _tqdm_stand_in()
        if name == "hifigan":
            _librosa_stand_in()
        torch.manual_seed(args.seed)
        model = vocoders.load(name, "small")
        frames, batch = (4, 2) if args.dry_run else (16, 2)  # the mini protocol's 16-frame crops on the GPU
        g = torch.Generator().manual_seed(args.seed)
        items = [((0.3 * torch.randn(frames * model.hop_length, generator=g)).clamp(-1.0, 1.0),
                  torch.rand(model.n_mels, frames, generator=g)) for _ in range(batch)]
        before = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        with tempfile.TemporaryDirectory(prefix="gpu-check-train-") as run_dir:
            cfg = TrainConfig(run_dir=run_dir, seed=args.seed, batch_size=batch, max_steps=1,
                              checkpoint_every_steps=None, checkpoint_every_s=None, validate_at_end=True,
                              progress=False, device=str(self.device), resume="never", checkpoint_state="weights")
            self.sync()
            t = time.perf_counter()
            result = train(model, items, items[:1], cfg)
            self.sync()
            seconds = time.perf_counter() - t
        after = {k: v.detach().to("cpu") for k, v in model.state_dict().items() if k in before}
        changed = any(not torch.equal(before[k], after[k]) for k in before)
        record = result.records[-1] if result.records else {}
        losses = {k: record.get(k) for k in ("train_loss", "train_d_loss", "val_loss")}
        finite = all(v is None or math.isfinite(v) for v in losses.values()) and losses["train_loss"] is not None
        passed = finite and changed and result.step == 1
        return [{"family": model.family, "device": str(self.device), "batch_size": batch, "frames": frames,
                 "method": "greenaudio.training.train(max_steps=1, in-memory random clips)", "steps": result.step,
                 "loss": losses["train_loss"], "d_loss": losses["train_d_loss"], "val_loss": losses["val_loss"],
                 "loss_finite": finite, "params_changed": changed, "passed": passed,
                 "status": "ok" if passed else "failed", "seconds": seconds,
                 "seconds_per_step": result.seconds_per_step, "error": ""}]

    # ---- (c) energy through the harness
    def energy_protocol(self) -> Any:
        from greenaudio.measure.protocol import THESIS_PROTOCOL, Protocol

        if self.args.dry_run:
            clip = self.args.clip_s
            return Protocol(n_clips=1, clip_duration_s=clip, warmup=1, repeats=1, flop_clip_s=clip,
                            idle_window_s=0.0, seed=self.args.seed)
        return THESIS_PROTOCOL.replace(idle_window_s=2.0, seed=self.args.seed)

    def time_one_clip(self, model: Any, protocol: Any) -> float:
        """Seconds the prepared model takes for one clip of the protocol on the device (after one warm-up): the
        harness then gets enough clips per timed run for ``--energy-min-run-s`` (the NVML counter advances in steps,
        too coarse for a run of a few milliseconds)."""
        torch = self.torch
        prepared = copy.deepcopy(model).to(self.device).prepare_for_inference()
        frames = protocol.n_frames(prepared.hop_length, sample_rate=prepared.sample_rate)
        mel = torch.randn(1, prepared.n_mels, frames, generator=torch.Generator().manual_seed(protocol.seed))
        mel = mel.to(self.device)
        times = []
        for _ in range(2):
            self.sync()
            t = time.perf_counter()
            prepared.generate(mel, generator=torch.Generator().manual_seed(protocol.seed))
            self.sync()
            times.append(time.perf_counter() - t)
        return max(times[-1], 1e-6)

    def energy(self, name: str, environment: dict[str, Any]) -> list[dict[str, Any]]:
        torch, args = self.torch, self.args
        from greenaudio import vocoders
        from greenaudio.measure.bench import benchmark_model

        torch.manual_seed(args.seed)
        model = vocoders.load(name, "small")
        t = time.perf_counter()
        protocol = self.energy_protocol()
        per_clip_s = self.time_one_clip(model, protocol)
        n_clips = min(MAX_ENERGY_CLIPS, max(protocol.n_clips, math.ceil(args.energy_min_run_s / per_clip_s)))
        protocol = protocol.replace(n_clips=n_clips)
        rec = benchmark_model(model, name=name, size="small", protocol=protocol, device=str(self.device),
                              energy_mode="auto" if args.dry_run else "measured", environment=environment)
        seconds = time.perf_counter() - t
        method = rec.energy_method
        measured = method.startswith("measured:")
        ok_number = rec.energy_j_per_run is not None and math.isfinite(rec.energy_j_per_run)
        if args.dry_run:
            passed = rec.status == "ok" and ok_number and rec.energy_j_per_run >= 0
            why = ""
        else:
            passed = measured and "nvml" in method and ok_number and rec.energy_j_per_run > 0
            why = "" if passed else f"not an NVML measurement > 0 J: method {method!r}, {rec.energy_j_per_run!r} J"
        return [{"device": rec.device, "n_clips": n_clips, "clip_s_measured": per_clip_s,
                 "energy_method": method, "measured": measured,
                 "energy_j_per_run": rec.energy_j_per_run, "e_gen_j_per_100_audio_s": rec.e_gen_j_per_100_audio_s,
                 "audio_s_per_run": rec.audio_s_per_run, "energy_repeats": rec.energy_repeats,
                 "energy_duration_s": rec.energy_duration_s, "energy_idle_power_w": rec.energy_idle_power_w,
                 "energy_domains": list(rec.energy_domains or ()), "energy_device_model": rec.energy_device_model,
                 "energy_tool": rec.energy_tool, "rtf_median": rec.rtf_median, "time_median_s": rec.time_median_s,
                 "gflops_per_audio_s": rec.gflops_per_audio_s, "procedure": rec.procedure,
                 "protocol_key": rec.protocol_key, "energy_notes": list(rec.energy_notes or ()), "passed": passed,
                 "status": "ok" if passed else "failed", "seconds": seconds, "error": why}]

    # ---- environment
    def collect_environment(self) -> dict[str, Any]:
        torch, args = self.torch, self.args
        import numpy
        import pandas

        env: dict[str, Any] = {
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": self.command,
            "argv": sys.argv[1:],
            "dry_run": args.dry_run,
            "device": str(self.device),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "hostname": platform.node(),
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "numpy": numpy.__version__,
            "pandas": pandas.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "greenaudio_source": str(Path(sys.modules["greenaudio"].__file__).parent),
        }
        try:
            from greenaudio.host import read_cpu_model, read_git_commit

            env["cpu_model"] = read_cpu_model()
            env["git_commit"] = read_git_commit() or os.environ.get("GREENAUDIO_GIT_COMMIT")
        except Exception as err:  # provenance must not stop the check
            env["environment_error"] = _error_text(err)
        try:
            import pynvml  # noqa: F401
            from importlib import metadata

            try:
                env["nvidia_ml_py"] = metadata.version("nvidia-ml-py")
            except metadata.PackageNotFoundError:
                env["nvidia_ml_py"] = "importable (version unknown)"
        except ImportError:
            env["nvidia_ml_py"] = None
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            env["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                          "total_memory_gib": round(props.total_memory / 2**30, 2),
                          "device_count": torch.cuda.device_count(),
                          "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
            env["driver"] = _driver_version()
        env["settings"] = {
            "models": args.models, "sizes": args.sizes, "clip_s": args.clip_s, "seed": args.seed,
            "threads": args.threads,
            "rel_tol": args.rel_tol, "abs_tol": args.abs_tol, "abs_tol_rule": "abs_tol x max(1, peak of reference)",
            "budget_s": args.budget_s, "energy_protocol": self.energy_protocol().to_dict(),
            "energy_min_run_s": args.energy_min_run_s, "energy_max_clips": MAX_ENERGY_CLIPS,
            "energy_mode": "auto" if args.dry_run else "measured", "tf32": _tf32_flags(torch),
            "noise": "a seeded CPU torch.Generator passed to generate() on both devices",
        }
        return env

    def write_environment(self, extra: dict[str, Any] | None = None) -> None:
        self.environment.update(extra or {})
        atomic_write_text(self.out / "environment.json",
                          json.dumps(self.environment, indent=2, sort_keys=True, default=str) + "\n")

    # ---- main
    def run(self) -> int:
        torch, args = self.torch, self.args
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 on both sides: the tolerance is about rounding
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        torch.backends.cudnn.benchmark = False
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        self.environment = self.collect_environment()
        self.write_environment({"status": "running"})
        from greenaudio.host import collect_environment

        bench_env = collect_environment(str(self.device)).to_dict()
        print(f"gpu_check: {'dry run on the CPU' if args.dry_run else str(self.device)} -> {self.out}", flush=True)
        first, rest = args.sizes[:1], args.sizes[1:]
        phases: list[tuple[str, Callable[[], None]]] = [
            ("equality", lambda: self._equality(first)),
            ("training_step", self._training),
            ("energy", lambda: self._energy(bench_env)),
            ("equality", lambda: self._equality(rest)),
        ]
        for step, phase in phases:
            t = time.perf_counter()
            while True:
                try:
                    phase()
                    break
                except Stopped:  # between two units: run the phase again, which marks what is left as skipped
                    self.stopped = "SIGTERM"
            self.step_seconds[step] = self.step_seconds.get(step, 0.0) + time.perf_counter() - t
        return self.finish()

    def on_sigterm(self, signum: int, frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise Stopped()

    def _equality(self, sizes: list[str]) -> None:
        rows = [{"path": p} for p in ("plain", "prepared", "plain-vs-prepared")]
        for size in sizes:
            for name in self.args.models:
                base = {"model": name, "size": size, "device": self.args.device}
                self.run_unit("equality", f"equality-{size}", base, lambda n=name, s=size: self.equality(n, s), rows)

    def _training(self) -> None:
        for name in self.args.models:
            base = {"model": name, "size": "small", "device": self.args.device}
            self.run_unit("training_step", "training", base, lambda n=name: self.training_step(n), [{}])

    def _energy(self, bench_env: dict[str, Any]) -> None:
        for name in self.args.models:
            base = {"model": name, "size": "small", "device": self.args.device}
            self.run_unit("energy", "energy", base, lambda n=name: self.energy(n, bench_env), [{}])

    def finish(self) -> int:
        failed = {t: sum(1 for r in rows if r.get("passed") is False) for t, rows in self.rows.items()}
        passed = {t: sum(1 for r in rows if r.get("passed") is True) for t, rows in self.rows.items()}
        skipped = {t: sum(1 for r in rows if str(r.get("status", "")).startswith("skipped")) for t, rows
                   in self.rows.items()}
        if any(failed.values()):
            status, code = "failed", EXIT_FAILED
        elif any(skipped.values()) or self.stopped:
            status, code = f"stopped: {self.stopped or 'time budget'}", EXIT_STOPPED
        else:
            status, code = "passed", EXIT_OK
        base = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
        self.write_environment({
            "status": status, "exit_status": code, "elapsed_s": round(time.monotonic() - T0, 2),
            "step_seconds": {k: round(v, 2) for k, v in self.step_seconds.items()},
            "counts": {t: {"passed": passed[t], "failed": failed[t], "skipped": skipped[t]} for t in self.rows},
            "stand_ins": STAND_INS,
            "simulate_bare": self.blocker is not None,
            "blocked_imports": list(self.blocker.blocked) if self.blocker else [],
            "imported_modules": sorted({k.partition(".")[0] for k in sys.modules} - base - {"__main__"}),
        })
        for table in self.rows:  # a table with no row (an empty --models) still gets its header
            if not (self.out / f"{table}.csv").exists():
                write_csv(self.out / f"{table}.csv", self.columns[table], [])
        write_manifest(self.out, self.command)
        print("gpu_check summary:")
        for table in self.rows:
            print(f"  {table:14s} passed {passed[table]:3d}  failed {failed[table]:3d}  skipped {skipped[table]:3d}"
                  f"  ({self.step_seconds.get(table, 0.0):.1f} s)")
        for row in self.rows["energy"]:
            if row.get("energy_method"):
                print(f"  energy {row['model']:9s} {row['energy_method']}: "
                      f"{row['e_gen_j_per_100_audio_s']:.4g} J per 100 s of audio")
        if STAND_INS:
            print(f"  stand-ins for absent modules: {sorted(STAND_INS)}")
        print(f"gpu_check: {status} (exit {code}) in {time.monotonic() - T0:.1f} s; results in {self.out}")
        return code


def _tf32_flags(torch: Any) -> dict[str, Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flags: dict[str, Any] = {}
        for name, get in (("cuda.matmul.allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32),
                          ("cudnn.allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
                          ("float32_matmul_precision", torch.get_float32_matmul_precision)):
            try:
                flags[name] = get()
            except Exception as err:  # a torch whose flags changed: record why
                flags[name] = _error_text(err)
    return flags


def _driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        pass
    try:
        import subprocess

        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    blocker = None
    if args.simulate_bare:
        blocker = BareMachineImports()
        blocker.install()
    command = os.environ.get("GPU_CHECK_COMMAND") or shlex.join(["python", "scripts/gpu_check.py", *argv])
    try:
        check_device_args(args)
        out = resolve_out(args)
    except UsageError as err:
        sys.stderr.write(f"gpu_check: error: {err}\n")
        return EXIT_USAGE
    try:
        import torch
    except ImportError as err:
        sys.stderr.write(f"gpu_check: error: PyTorch is not importable ({err})\n")
        return EXIT_USAGE
    try:
        check_cuda(args, torch)
        import greenaudio  # noqa: F401 - PYTHONPATH=lib (scripts/gpu_check.sh sets it)
    except UsageError as err:
        sys.stderr.write(f"gpu_check: error: {err}\n")
        return EXIT_USAGE
    except ImportError as err:
        sys.stderr.write(f"gpu_check: error: the greenaudio package is not importable ({err}); run "
                         "bash scripts/gpu_check.sh, which sets PYTHONPATH=lib\n")
        return EXIT_USAGE

    check = Check(args, out, command, blocker)
    signal.signal(signal.SIGTERM, check.on_sigterm)
    return check.run()


if __name__ == "__main__":
    sys.exit(main())
