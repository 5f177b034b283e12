"""The ground floor for host facts: where a measurement ran (host type, CPU model, sockets and instruction-set flags,
GPU, package versions, git commit, date). Imports nothing of greenaudio.

Used by: the energy estimators and benchmark records (:mod:`greenaudio.measure`), the training energy
(:mod:`greenaudio.training.energy`), the reduced-precision backends (:mod:`greenaudio.vocoders.base`).

The host type matters for energy: inside a virtual machine the RAPL counters are usually absent (or cover the whole
physical package, other tenants included); inside a container they cover the whole host. Detection reads, in order,
``systemd-detect-virt``, ``/sys/class/dmi/id/{sys_vendor,product_name}``, the ``hypervisor`` CPU flag of
``/proc/cpuinfo``, and for containers ``/.dockerenv``, ``/run/.containerenv`` and ``/proc/1/cgroup``; the evidence is
kept with the answer.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["cpu_flags", "HostType", "Environment", "detect_host_type", "collect_environment", "read_cpu_model", "read_cpu_sockets",
           "read_git_commit"]

_VM_VENDORS = (
    "qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "bochs", "parallels", "amazon ec2", "google compute",
    "microsoft corporation virtual", "openstack", "hvm domu", "bhyve", "cloud hypervisor", "firecracker",
)
_CONTAINER_CGROUP_MARKERS = ("docker", "kubepods", "containerd", "lxc", "libpod", "podman")


@dataclass(frozen=True)
class HostType:
    """What kind of machine a measurement ran on.

    Attributes:
        kind: ``"bare metal"``, ``"virtual machine"``, ``"container"``, ``"container in virtual machine"`` or
            ``"unknown"``.
        virtualised: a hypervisor was detected.
        containerised: a container runtime was detected.
        evidence: the observations the answer rests on (e.g. ``"/.dockerenv exists"``).
    """

    kind: str
    virtualised: bool | None
    containerised: bool
    evidence: tuple[str, ...] = ()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def detect_host_type(root: str | os.PathLike = "/", *, use_systemd: bool = True) -> HostType:
    """Detect bare metal / virtual machine / container.

    Args:
        root: filesystem root to inspect (tests pass a fake tree).
        use_systemd: also ask ``systemd-detect-virt`` when it is installed (only with ``root="/"``).

    Returns:
        :class:`HostType` with its evidence; ``virtualised`` is ``None`` when nothing could be read about it.
    """
    root = Path(root)
    evidence: list[str] = []
    vm: bool | None = None
    container = False

    if use_systemd and root == Path("/") and shutil.which("systemd-detect-virt"):
        for flag, label in (("--vm", "vm"), ("--container", "container")):
            try:
                out = subprocess.run(["systemd-detect-virt", flag], capture_output=True, text=True, timeout=5)
            except (OSError, subprocess.SubprocessError):
                continue
            answer = out.stdout.strip()
            if answer and answer != "none":
                evidence.append(f"systemd-detect-virt {flag}: {answer}")
                if label == "vm":
                    vm = True
                else:
                    container = True
            elif answer == "none" and label == "vm":
                vm = False if vm is None else vm

    dmi = " ".join(_read(root / "sys/class/dmi/id" / n) for n in ("sys_vendor", "product_name")).strip()
    if dmi:
        if any(v in dmi.lower() for v in _VM_VENDORS):
            evidence.append(f"DMI vendor/product: {dmi}")
            vm = True
        elif vm is None:
            vm = False
            evidence.append(f"DMI vendor/product (no hypervisor): {dmi}")
    cpuinfo = _read(root / "proc/cpuinfo")
    if cpuinfo:
        flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
        if " hypervisor" in flags:
            evidence.append("CPU flag 'hypervisor' in /proc/cpuinfo")
            vm = True
        elif flags and vm is None:
            vm = False

    for marker in (".dockerenv", "run/.containerenv"):
        if (root / marker).exists():
            evidence.append(f"/{marker} exists")
            container = True
    cgroup = _read(root / "proc/1/cgroup")
    hits = sorted({m for m in _CONTAINER_CGROUP_MARKERS if m in cgroup})
    if hits:
        evidence.append(f"/proc/1/cgroup mentions {hits}")
        container = True

    if container and vm:
        kind = "container in virtual machine"
    elif container:
        kind = "container"
    elif vm:
        kind = "virtual machine"
    elif vm is False:
        kind = "bare metal"
    else:
        kind = "unknown"
    return HostType(kind=kind, virtualised=vm, containerised=container, evidence=tuple(evidence))


def read_cpu_model(root: str | os.PathLike = "/") -> str:
    """The CPU model string (``/proc/cpuinfo`` "model name", else :func:`platform.processor`)."""
    for line in _read(Path(root) / "proc/cpuinfo").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def read_cpu_sockets(root: str | os.PathLike = "/", *, use_lscpu: bool = True) -> int:
    """CPU sockets of the machine: the distinct ``physical id`` values of ``/proc/cpuinfo``; where it lists none (some
    ARM kernels), ``lscpu``'s ``Socket(s):`` (the line CodeCarbon's ``count_physical_cpus`` reads; only with
    ``root="/"``); else 1, CodeCarbon's default too. CodeCarbon multiplies a CPU's TDP by this count.

    Args:
        root: filesystem root to inspect (tests pass a fake tree).
        use_lscpu: also ask ``lscpu`` when ``/proc/cpuinfo`` names no socket.
    """
    ids = {line.split(":", 1)[1].strip() for line in _read(Path(root) / "proc/cpuinfo").splitlines()
           if line.startswith("physical id") and ":" in line}
    if ids:
        return len(ids)
    if use_lscpu and Path(root) == Path("/") and shutil.which("lscpu"):
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.strip().startswith("Socket(s):"):
                value = line.split(":", 1)[1].strip()
                if value.isdigit() and int(value) > 0:
                    return int(value)
    return 1


_CPU_FLAGS: frozenset[str] | None = None


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (the ``flags`` line of ``/proc/cpuinfo``), read once per process; empty where the file
    cannot be read (not Linux). Tests replace it where it is used (e.g.
    ``greenaudio.vocoders.base.cpu_flags``) to simulate another CPU."""
    global _CPU_FLAGS
    if _CPU_FLAGS is None:
        flags: set[str] = set()
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith(("flags", "Features")):
                        flags.update(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        _CPU_FLAGS = frozenset(flags)
    return _CPU_FLAGS


#: CPU instruction-set extensions that decide how fast int8 and fp32 kernels can be (x86 flag names of /proc/cpuinfo).
INT8_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def read_cpu_isa(root: str | os.PathLike = "/") -> str:
    """Which of :data:`INT8_ISA_FLAGS` the CPU has, e.g. ``"avx2 fma; no avx512f avx512_vnni avx_vnni amx_int8"``
    (VNNI is the x86 extension with int8 dot-product instructions; without it int8 convolutions gain little over
    fp32). ``"unknown"`` where ``/proc/cpuinfo`` lists no flags."""
    for line in _read(Path(root) / "proc/cpuinfo").splitlines():
        if line.lower().startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            has = [f for f in INT8_ISA_FLAGS if f in flags]
            lacks = [f for f in INT8_ISA_FLAGS if f not in flags]
            return " ".join(has) + (f"; no {' '.join(lacks)}" if lacks else "")
    return "unknown"


def read_git_commit(path: str | os.PathLike | None = None, *, dirty: bool = True) -> str | None:
    """The git commit (with ``+dirty`` if the work tree has changes, unless ``dirty`` is off) of the checkout holding
    ``path``; ``None`` outside a repository or before the first commit."""
    path = Path(path) if path is not None else Path(__file__).resolve().parent
    if not shutil.which("git"):
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        if not dirty:
            return head.stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=path, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if status.stdout.strip() else "")


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Environment:
    """Metadata stored with every benchmark record.

    Attributes:
        date_utc: ISO-8601 time of collection (UTC).
        hostname: machine name.
        host_type: :attr:`HostType.kind`; ``host_evidence`` lists why.
        cpu_model: CPU model string.
        cpu_count: logical CPUs visible to the process.
        gpu_model: name of the CUDA device used, ``None`` on CPU.
        torch_threads: ``torch.get_num_threads()`` at collection time.
        git_commit: commit of the greenaudio checkout, ``None`` if not in a repository.
        python: Python version.
        platform: :func:`platform.platform`.
        packages: versions of greenaudio, torch, numpy, pyJoules, nvidia-ml-py (``None`` if absent).
        cuda: CUDA runtime version torch was built with, ``None`` if none.
        load_average: the machine's 1-, 5- and 15-minute load averages at collection time (other processes
            competing for the CPUs slow wall-clock timings); ``None`` where the OS does not report them.
        cpu_sockets: CPU sockets (:func:`read_cpu_sockets`; CodeCarbon multiplies the TDP by it); ``None`` in
            records collected before it was recorded.
    """

    date_utc: str
    hostname: str
    host_type: str
    host_evidence: tuple[str, ...]
    cpu_model: str
    cpu_count: int
    gpu_model: str | None
    torch_threads: int
    git_commit: str | None
    python: str
    platform: str
    packages: dict[str, str | None] = field(default_factory=dict)
    cuda: str | None = None
    load_average: tuple[float, float, float] | None = None
    cpu_sockets: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_environment(device: str = "cpu") -> Environment:
    """Collect the :class:`Environment` of the current process for a run on ``device``."""
    import torch

    host = detect_host_type()
    gpu = None
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(dev)
    return Environment(
        date_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        hostname=platform.node(),
        host_type=host.kind,
        host_evidence=host.evidence,
        cpu_model=read_cpu_model(),
        cpu_count=os.cpu_count() or 0,
        gpu_model=gpu,
        torch_threads=torch.get_num_threads(),
        git_commit=read_git_commit(),
        python=platform.python_version(),
        platform=platform.platform(),
        packages={d: _version(d) for d in ("greenaudio", "torch", "numpy", "pyJoules", "nvidia-ml-py")},
        cuda=torch.version.cuda,
        load_average=_load_average(),
        cpu_sockets=read_cpu_sockets(),
    )


def _load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except (OSError, AttributeError):  # pragma: no cover - not on Linux/macOS
        return None
