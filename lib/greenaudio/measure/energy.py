"""Energy of a workload, measured where counters exist and estimated otherwise, never without its provenance.

Used by: notebooks/05_1_cost_benchmark.ipynb, :func:`greenaudio.measure.benchmark_model`.

The thesis (§5.2.3) measured ``E_gen`` with pyJoules, which reads Intel RAPL (CPU package, DRAM) and the NVIDIA NVML
energy counter (Volta or newer) at the start and end of a window. This module reads the same counters itself, with
no dependency beyond the optional ``nvidia-ml-py`` (pyJoules is not needed):

* **RAPL**: ``/sys/class/powercap/intel-rapl:N/energy_uj`` (package ``N``) and its ``dram`` sub-zone, in µJ. A
  counter wraps around at the zone's ``max_energy_range_uj``: a negative difference gets the range added back (one
  wrap per window; windows are split per repeat so each stays well below the wrap period). RAPL ``core``/``uncore``
  are *parts* of ``package`` and are never summed with it. The counters are root-only since Linux 5.10 and usually
  absent in virtual machines.
* **NVML**: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta or newer), read after ``torch.cuda.synchronize``.

Where no counter covers the device, the energy is an explicit **estimate**, labelled as such:

* on a CPU, by default, what CodeCarbon's offline tracker counts in process mode
  (:mod:`greenaudio.measure.power_models`), as two components: **CPU** (the CPU model matched in CodeCarbon's table
  gives a TDP, multiplied by the sockets; the process is charged ``TDP x CPU time / logical CPUs``, the CPU time of
  the process *and its children*, :func:`process_tree_cpu_time_s`) and **RAM** (the power of the memory slots its
  resident memory implies, 10 W for any process up to 16 GiB on x86, x the wall time); ``energy_j`` is their sum,
  ``cpu_energy_j`` and ``ram_energy_j`` the components (``count_ram=False`` keeps the CPU component only);
* with an explicit ``hardware=`` (a :func:`greenaudio.carbon.list_hardware` entry), or on a GPU: the catalogue's
  maximum power x utilisation x (for CPUs) the share of cores x the wall time.

Every result is an :class:`EnergyMeasurement`: method (``"measured:rapl[package,dram]"``,
``"measured:nvml-energy-counter"``, ``"estimated:codecarbon-process-rule[cpu,ram]"`` with its components
``"estimated:codecarbon-cpu-process-rule"`` and ``"estimated:codecarbon-ram-process-rule"``, ``"estimated:power x
time"``), domains, tool and version, device model, host type, duration, repeats, the constants of an estimate, and
an idle baseline measured over a comparable window, *reported and not subtracted*. Benchmark records written before
the RAM component existed carry ``"estimated:codecarbon-cpu-process"`` (the CPU rule, children not counted); their
numbers are unchanged.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..host import detect_host_type, read_cpu_model
from .power_models import (METHOD_CODECARBON, METHOD_CODECARBON_CPU, METHOD_CODECARBON_RAM, CodeCarbonEnergy,
                           CpuPowerModel, RamPowerModel, codecarbon_cpu_power_model, codecarbon_ram_power_model)
from .timing import synchronize

__all__ = ["EnergyMeasurement", "EnergyMonitor", "merge_energy_windows", "METHOD_CODECARBON", "METHOD_CODECARBON_CPU",
           "METHOD_CODECARBON_RAM"]

#: Method label of the catalogue estimate (maximum power x utilisation x core share x wall time).
METHOD_ESTIMATED = "estimated:power x time"
# METHOD_CODECARBON (CPU + RAM), METHOD_CODECARBON_CPU and METHOD_CODECARBON_RAM: see power_models.
#: Where the RAPL zones are read (tests point it, or ``rapl_root=``, at a fake tree).
RAPL_ROOT = "/sys/class/powercap"
_RAPL_KINDS = ("package", "dram")  # core/uncore are sub-domains of package: never summed with it
_UJ_PER_J = 1e6  # RAPL counters are in microjoules
_MJ_PER_J = 1e3  # the NVML energy counter is in millijoules
TOOL = "greenaudio.measure (RAPL sysfs / NVML energy counter)"
_PROC = Path("/proc")


def _descendant_pids(pid: int | str = "self") -> list[int] | None:
    """Living descendants of ``pid`` (children, their children, ...) from ``/proc/<pid>/task/<tid>/children``
    (Linux); ``None`` where the kernel does not expose those files."""
    found: list[int] = []
    todo: list[int | str] = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(_PROC / str(current) / "task")
        except OSError:
            if current == pid:
                return None
            continue  # the child ended meanwhile
        for tid in tasks:
            try:
                with open(_PROC / str(current) / "task" / tid / "children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except FileNotFoundError:
                if current == pid:
                    return None  # kernel without CONFIG_PROC_CHILDREN
                continue
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def _stat_cpu_rss(pid: int) -> tuple[float, int] | None:
    """(user + system time of ``pid`` and of its children it has waited for, in s; resident set, in bytes) from
    ``/proc/<pid>/stat``; ``None`` if the process is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # from the state field on: utime is 11, rss 21
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks
    return cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def _descendants_cpu_rss() -> tuple[float, int]:
    """CPU time (s) and resident set (bytes) of the living descendants of this process, psutil where /proc lacks
    the children files, nothing where neither works."""
    pids = _descendant_pids()
    if pids is not None:
        stats = [st for st in map(_stat_cpu_rss, pids) if st is not None]
        return sum(c for c, _ in stats), sum(r for _, r in stats)
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is installed with carbontracker/codecarbon
        return 0.0, 0
    cpu, rss = 0.0, 0
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:  # pragma: no cover
        children = []
    for child in children:
        try:
            t = child.cpu_times()
            cpu += t.user + t.system + t.children_user + t.children_system
            rss += child.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss


def process_tree_cpu_time_s() -> float:
    """CPU time (user + system, in s) of this process and of its children: this process's own
    (:func:`time.process_time`), its children it has waited for (``os.times()``'s ``children_user`` and
    ``children_system``) and its living descendants (with the children *they* have waited for), read from ``/proc``.

    A cumulative counter: when a child ends and is waited for, its time moves from the living to the waited-for
    part. CodeCarbon's process mode (``external/hardware.py``, ``CPU._get_process_cpu_times``) charges the process
    and its living descendants; it misses children that end between two of its samples, this counter does not.
    """
    times = os.times()
    return time.process_time() + times.children_user + times.children_system + _descendants_cpu_rss()[0]


def process_tree_rss_gib() -> float:
    """Resident memory (in GiB, 1024**3 bytes, CodeCarbon's unit) of this process and its living descendants, as
    CodeCarbon's ``RAM.process_memory_GB`` counts it (``/proc/self/statm``; the peak from ``getrusage`` where it
    is unreadable)."""
    try:
        own = int((_PROC / "self" / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        import resource
        import sys

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return (own + _descendants_cpu_rss()[1]) / 1024 ** 3


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of a workload over ``repeats`` runs, with its provenance.

    Attributes:
        energy_j: energy of the whole window, all ``domains`` summed (in J). Not idle-corrected.
        duration_s: wall-clock length of the window (in s).
        repeats: runs of the workload inside the window.
        energy_by_repeat_j: energy of each run (in J).
        energy_by_domain_j: energy of the whole window per domain (in J), e.g. ``{"package_0": ..., "dram_0": ...}``.
        method: how the number was obtained (``"measured:rapl[package,dram]"``, ``"measured:nvml-energy-counter"``,
            both joined by ``+``, ``"estimated:codecarbon-process-rule[cpu,ram]"`` (CodeCarbon's CPU and RAM rules
            summed), ``"estimated:codecarbon-cpu-process-rule"`` (its CPU rule alone) or
            ``"estimated:power x time"``).
        domains: the sensor domains (measured) or the estimated device (``"estimate:<hardware>"``).
        tool: what read or estimated the energy (``greenaudio.measure`` and the sensor or power model).
        device_model: the device the workload ran on (CPU or GPU model string).
        host_type: ``"bare metal"``, ``"virtual machine"``, ``"container"``... (see :mod:`.environment`).
        idle_power_w: mean power over an idle window right after the workload (in W); ``None`` when not measured
            (estimate path, or ``idle_window_s=0``). Reported, never subtracted from ``energy_j``.
        idle_duration_s: length of that idle window (in s).
        constants: every constant of an estimate (hardware, power in W, utilisation, core share, their source).
        corrections: corrections applied to raw readings (counter wraparounds), human-readable.
        notes: caveats (domains not covered, fall-backs of hardware auto-detection).
        cpu_energy_j: CodeCarbon's estimate: the CPU component of ``energy_j`` (in J); ``None`` on other paths.
        ram_energy_j: CodeCarbon's estimate: the RAM component of ``energy_j`` (in J); ``None`` on other paths or
            with ``count_ram=False``. ``energy_j`` is the total: ``cpu_energy_j + ram_energy_j``.
        component_methods: the method label of each component, e.g. ``{"cpu": "estimated:codecarbon-cpu-process-rule",
            "ram": "estimated:codecarbon-ram-process-rule"}``; empty on other paths.
    """

    energy_j: float
    duration_s: float
    repeats: int
    energy_by_repeat_j: tuple[float, ...]
    energy_by_domain_j: Mapping[str, float]
    method: str
    domains: tuple[str, ...]
    tool: str
    device_model: str
    host_type: str
    idle_power_w: float | None = None
    idle_duration_s: float | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    corrections: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    cpu_energy_j: float | None = None
    ram_energy_j: float | None = None
    component_methods: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.energy_j) or self.energy_j < 0:
            raise ValueError(f"energy_j must be finite and >= 0 J, got {self.energy_j!r}")
        if not self.duration_s >= 0:
            raise ValueError(f"duration_s must be >= 0 s, got {self.duration_s!r}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats!r}")

    @property
    def is_measured(self) -> bool:
        """True for a sensor reading, False for an estimate."""
        return self.method.startswith("measured:")

    @property
    def energy_per_repeat_j(self) -> float:
        """Median energy of one run (in J)."""
        return statistics.median(self.energy_by_repeat_j) if self.energy_by_repeat_j else self.energy_j / self.repeats

    @property
    def mean_power_w(self) -> float:
        """Mean power over the window (in W)."""
        return self.energy_j / self.duration_s if self.duration_s > 0 else float("nan")

    @property
    def idle_energy_j(self) -> float | None:
        """What the idle power would have consumed over the window (in J); ``None`` if not measured."""
        return None if self.idle_power_w is None else self.idle_power_w * self.duration_s

    @property
    def energy_above_idle_j(self) -> float | None:
        """``energy_j`` minus :attr:`idle_energy_j` (in J), for readers who want it; ``None`` if no baseline."""
        idle = self.idle_energy_j
        return None if idle is None else self.energy_j - idle


@dataclass(frozen=True)
class PowerEstimate:
    """The constants of an estimate: ``power_w = max_power_w x utilisation x core_share``.

    Attributes:
        hardware: catalogue name (:func:`greenaudio.carbon.list_hardware`).
        kind: ``"cpu"`` or ``"gpu"``.
        max_power_w: the catalogue's TDP / board power (in W).
        utilisation: assumed fraction of that power drawn (1.0 = TDP, the worst case of Lacoste et al. 2019).
        core_share: for CPUs, cores used / cores of the package (1.0 for GPUs or when unknown).
        source: the catalogue's source for ``max_power_w``.
        notes: how the hardware was chosen (explicitly, or auto-detected, or a fall-back).
    """

    hardware: str
    kind: str
    max_power_w: float
    utilisation: float
    core_share: float
    source: str
    notes: tuple[str, ...] = ()

    @property
    def power_w(self) -> float:
        """The power assumed while the workload runs (in W)."""
        return self.max_power_w * self.utilisation * self.core_share

    def to_dict(self) -> dict[str, Any]:
        return {"hardware": self.hardware, "kind": self.kind, "max_power_w": self.max_power_w,
                "utilisation": self.utilisation, "core_share": self.core_share, "power_w": self.power_w,
                "source": self.source}


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _device_model(device: torch.device) -> str:
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    if device.type == "cuda":
        return "unknown CUDA device"
    return read_cpu_model()


def resolve_power_estimate(device: str | torch.device = "cpu", hardware: str | None = None, *, utilisation: float = 1.0,
                           cpu_cores_used: int | None = None, cpu_cores_total: int | None = None) -> PowerEstimate:
    """The catalogue constants of an estimate: ``power_w = max_power_w x utilisation x core_share``.

    Args:
        device: ``"cpu"`` or ``"cuda[:i]"``.
        hardware: catalogue name (:func:`greenaudio.carbon.list_hardware`); ``None`` auto-detects from the CPU/GPU
            model string through the catalogue's aliases. An unknown device raises (a CPU without a catalogue entry
            is estimated by :class:`EnergyMonitor` with CodeCarbon's power model instead).
        utilisation: fraction of the maximum power assumed drawn, in (0, 1] (1.0: the worst case of Lacoste et al.).
        cpu_cores_used: CPU cores the workload uses (e.g. torch threads); with ``cpu_cores_total`` gives the share
            of the package's TDP charged.
        cpu_cores_total: cores of the CPU package.

    Returns:
        :class:`PowerEstimate`.

    Raises:
        ValueError: unknown hardware (with the valid names), a CPU entry for a GPU device or vice versa, bad shares.
    """
    from greenaudio import carbon

    dev = torch.device(device)
    utilisation = _fraction("utilisation", utilisation)
    notes: list[str] = []
    kind = "gpu" if dev.type == "cuda" else "cpu"
    if hardware is None:
        model = _device_model(dev)
        try:
            spec = carbon.get_hardware(model)
        except ValueError:
            raise ValueError(f"{kind.upper()} {model!r} is not in the hardware catalogue; pass hardware= one of "
                             f"{carbon.list_hardware(kind)}") from None
        notes.append(f"hardware auto-detected: {model!r} -> catalogue entry {spec.name!r}")
    else:
        spec = carbon.get_hardware(hardware)
        notes.append(f"hardware given explicitly: {spec.name!r}")
    if spec.kind != kind:
        raise ValueError(f"hardware {spec.name!r} is a {spec.kind}, but the device {str(dev)!r} needs a {kind}; "
                         f"valid: {carbon.list_hardware(kind)}")
    share = 1.0
    if spec.kind == "cpu" and (cpu_cores_used is not None or cpu_cores_total is not None):
        if cpu_cores_used is None or cpu_cores_total is None:
            raise ValueError("give both cpu_cores_used and cpu_cores_total (or neither, to charge the whole package)")
        for name, v in (("cpu_cores_used", cpu_cores_used), ("cpu_cores_total", cpu_cores_total)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if cpu_cores_used > cpu_cores_total:
            raise ValueError(f"cpu_cores_used={cpu_cores_used} exceeds cpu_cores_total={cpu_cores_total}")
        share = cpu_cores_used / cpu_cores_total
    elif spec.kind == "cpu":
        notes.append("no cpu_cores_total given: the whole package's power is charged")
    return PowerEstimate(hardware=spec.name, kind=spec.kind, max_power_w=float(spec.max_power_w),
                         utilisation=utilisation, core_share=share, source=spec.source, notes=tuple(notes))


# -- counters -----------------------------------------------------------------------------------------------------
def _read_number(path: Path) -> float:
    return float(path.read_text().split()[0])


@dataclass(frozen=True)
class RaplDomain:
    """One readable RAPL zone: ``name`` is ``"package_N"`` or ``"dram_N"``; counters in µJ."""

    name: str
    energy_file: Path
    max_energy_range_uj: float | None

    @property
    def kind(self) -> str:
        return self.name.rsplit("_", 1)[0]

    def read_j(self) -> float:
        return _read_number(self.energy_file) / _UJ_PER_J

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class NvmlDomain:
    """The NVML energy counter of GPU ``index`` (mJ since the driver loaded)."""

    index: int

    kind = "nvml"

    @property
    def name(self) -> str:
        return f"nvidia_gpu_{self.index}"

    def read_j(self) -> float:
        import pynvml

        handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)) / _MJ_PER_J

    def __str__(self) -> str:
        return self.name


def _rapl_domains(root: str | os.PathLike | None = None) -> list[RaplDomain]:
    """Readable RAPL package and DRAM zones under ``root`` (default :data:`RAPL_ROOT`); ``[]`` when there are none."""
    base = Path(RAPL_ROOT if root is None else root)
    if not base.is_dir():
        return []
    packages = sorted(p for p in base.glob("intel-rapl:*") if p.name.count(":") == 1)
    if not packages and (base / "intel-rapl").is_dir():  # the /sys/class/powercap/intel-rapl layout
        packages = sorted(p for p in (base / "intel-rapl").glob("intel-rapl:*") if p.name.count(":") == 1)
    found = []
    for pkg in packages:
        try:
            name = (pkg / "name").read_text().strip()
        except OSError:
            continue
        if not name.startswith("package-"):
            continue
        index = name.split("-", 1)[1]
        zones = [("package", pkg)] + [("dram", sub) for sub in sorted(pkg.glob(f"{pkg.name}:*"))
                                      if (sub / "name").is_file() and (sub / "name").read_text().strip() == "dram"]
        for kind, zone in zones:
            try:
                _read_number(zone / "energy_uj")
            except (OSError, ValueError, IndexError):
                continue  # root-only since Linux 5.10
            rng = None
            for candidate in (zone, pkg):
                try:
                    rng = _read_number(candidate / "max_energy_range_uj")
                    break
                except (OSError, ValueError, IndexError):
                    continue
            found.append(RaplDomain(f"{kind}_{index}", zone / "energy_uj", rng))
    return found


def _nvml_domains(device_index: int) -> list[NvmlDomain]:
    """The NVML domain of one GPU if its energy counter can be read (Volta or newer; ``nvidia-ml-py`` installed)."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        if device_index >= pynvml.nvmlDeviceGetCount():
            return []
        pynvml.nvmlDeviceGetTotalEnergyConsumption(pynvml.nvmlDeviceGetHandleByIndex(device_index))
    except Exception:  # NVMLError (no driver, NotSupported on pre-Volta GPUs), or a missing library
        return []
    return [NvmlDomain(device_index)]


def discover_energy_domains(device: str | torch.device = "cpu", *, rapl_root: str | os.PathLike | None = None) -> list:
    """Counters that cover a run on ``device``: RAPL package + DRAM, plus the NVML counter of a CUDA device.

    Returns ``[]`` (never raises) on a machine without readable counters.
    """
    dev = torch.device(device)
    domains: list = list(_rapl_domains(rapl_root))
    if dev.type == "cuda":
        domains += _nvml_domains(dev.index or 0)
    return domains


def _method_for(domains: list) -> str:
    kinds = [d.kind for d in domains]
    parts = []
    rapl = [k for k in _RAPL_KINDS if k in kinds]
    if rapl:
        parts.append(f"measured:rapl[{','.join(rapl)}]")
    if "nvml" in kinds:
        parts.append("measured:nvml-energy-counter")
    return "+".join(parts)


class EnergyMonitor:
    """Measure (or estimate) the energy of a workload run ``repeats`` times.

    Use :meth:`begin`, then :meth:`lap` after each run, then :meth:`end`; or :meth:`measure` for all of it.

    Args:
        device: where the workload runs (``"cpu"``, ``"cuda:0"``).
        mode: ``"auto"`` (measure if counters cover the device, else estimate), ``"measured"`` (raise if no
            counter) or ``"estimated"``.
        hardware: catalogue entry for a catalogue estimate; ``None`` on a CPU uses CodeCarbon's rules (CPU and RAM),
            on a GPU the catalogue entry of its name.
        utilisation, cpu_cores_used, cpu_cores_total: constants of the catalogue estimate
            (see :func:`resolve_power_estimate`); ignored when measuring or with CodeCarbon's model.
        rapl_root: where RAPL zones are read (default :data:`RAPL_ROOT`).
        clock: wall clock in s (default :func:`time.perf_counter`); cpu_clock: CPU time in s of the process (all
            threads) and its children (default :func:`process_tree_cpu_time_s`); memory_gib: resident memory in GiB
            of the process and its children, read at the end of each run (default :func:`process_tree_rss_gib`).
            Tests pass fakes.
        cpu_model, logical_cpus, sockets: the machine for CodeCarbon's rules (default: read from this machine).
        count_ram: add CodeCarbon's RAM rule to its CPU rule (default, as its tracker does); ``False`` estimates the
            CPU component only (method ``"estimated:codecarbon-cpu-process-rule"``).
    """

    MODES = ("auto", "measured", "estimated")

    def __init__(self, device: str | torch.device = "cpu", *, mode: str = "auto", hardware: str | None = None,
                 utilisation: float = 1.0, cpu_cores_used: int | None = None, cpu_cores_total: int | None = None,
                 rapl_root: str | os.PathLike | None = None, clock: Callable[[], float] = time.perf_counter,
                 cpu_clock: Callable[[], float] = process_tree_cpu_time_s,
                 memory_gib: Callable[[], float] = process_tree_rss_gib, cpu_model: str | None = None,
                 logical_cpus: int | None = None, sockets: int | None = None, count_ram: bool = True):
        if mode not in self.MODES:
            raise ValueError(f"mode={mode!r} is not valid; choose one of {list(self.MODES)}")
        self.device = torch.device(device)
        from greenaudio.validation import check_bool

        count_ram = check_bool("count_ram", count_ram)
        self._clock, self._cpu_clock, self._memory_gib = clock, cpu_clock, memory_gib
        self.domains = [] if mode == "estimated" else discover_energy_domains(self.device, rapl_root=rapl_root)
        self.notes: list[str] = []
        if self.domains and self.device.type == "cuda" and not any(d.kind == "nvml" for d in self.domains):
            self.notes.append("no NVML energy counter for this GPU: RAPL only would miss the GPU, estimating instead")
            self.domains = []
        if self.domains and self.device.type == "cuda" and all(d.kind == "nvml" for d in self.domains):
            self.notes.append("no readable RAPL counters: CPU and DRAM energy are not included (GPU only)")
        if mode == "measured" and not self.domains:
            raise ValueError(f"no readable energy counter covers device {str(self.device)!r} (mode='measured'); "
                             f"valid modes here: ['auto', 'estimated']")
        self.estimate: PowerEstimate | None = None
        self.power_model: CpuPowerModel | None = None
        self.ram_model: RamPowerModel | None = None
        if not self.domains:
            if self.device.type == "cpu" and hardware is None:
                self.power_model = codecarbon_cpu_power_model(cpu_model, logical_cpus, sockets)
                pm = self.power_model
                self.notes.append(f"power model: {pm.name}: TDP {pm.tdp_w:g} W ({pm.tdp_rule}) x CPU time of the "
                                  f"process and its children / {pm.logical_cpus} CPUs")
                if count_ram:
                    self.ram_model = ram = codecarbon_ram_power_model()
                    self.notes.append(f"power model: {ram.name}: {ram.slot_power_w:g} W per memory slot the resident "
                                      f"memory implies, at least {ram.minimum_power_w:g} W, x wall time")
                else:
                    self.notes.append("RAM not counted (count_ram=False): the CPU component of CodeCarbon's estimate")
            else:
                self.estimate = resolve_power_estimate(self.device, hardware, utilisation=utilisation,
                                                       cpu_cores_used=cpu_cores_used, cpu_cores_total=cpu_cores_total)
                self.notes.extend(self.estimate.notes)
            if mode == "auto":
                self.notes.insert(0, "no readable energy counter (RAPL/NVML) on this machine: energy is estimated")
        self._marks: list[tuple[float, float, dict[str, float]]] | None = None

    @property
    def method(self) -> str:
        """The method label results will carry."""
        if self.domains:
            return _method_for(self.domains)
        if self.power_model is not None:
            return METHOD_CODECARBON if self.ram_model is not None else METHOD_CODECARBON_CPU
        return METHOD_ESTIMATED

    # -- windows -----------------------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type != "cuda" or torch.cuda.is_available():
            synchronize(self.device)

    def _mark(self) -> tuple[float, float, dict[str, float], float | None]:
        self._sync()
        wall, cpu = self._clock(), self._cpu_clock()
        counters = {d.name: d.read_j() for d in self.domains}
        return wall, cpu, counters, (self._memory_gib() if self.ram_model is not None else None)

    def begin(self) -> None:
        """Open a window (synchronises the device first)."""
        if self._marks is not None:
            raise RuntimeError("an energy window is already open: call end() first")
        self._marks = [self._mark()]

    def lap(self) -> None:
        """Close the current run and start the next one (synchronises the device first)."""
        if self._marks is None:
            raise RuntimeError("no energy window is open: call begin() first")
        self._marks.append(self._mark())

    def _close(self) -> tuple[list[float], list[float], list[dict[str, float]], list[str], list[float | None]]:
        """Per-lap wall durations (s), CPU times (s), energies per domain (J), the corrections applied and the
        resident memory (GiB) read at the end of each lap (``None`` when RAM is not estimated)."""
        assert self._marks is not None
        marks, self._marks = self._marks, None
        durations = [b[0] - a[0] for a, b in zip(marks[:-1], marks[1:])]
        cpu_times = [max(b[1] - a[1], 0.0) for a, b in zip(marks[:-1], marks[1:])]
        corrections: list[str] = []
        laps = []
        for i, (a, b) in enumerate(zip(marks[:-1], marks[1:])):
            energies = {}
            for d in self.domains:
                delta = b[2][d.name] - a[2][d.name]
                if delta < 0 and d.kind == "nvml":
                    raise RuntimeError(f"NVML energy counter of {d} went backwards ({delta:g} J): driver reset?")
                if delta < 0:
                    if d.max_energy_range_uj is None:
                        raise RuntimeError(f"RAPL counter {d} wrapped around but max_energy_range_uj is unreadable")
                    corrections.append(f"run {i}: {d} wrapped around; added max_energy_range_uj="
                                       f"{d.max_energy_range_uj:g} uJ")
                    delta += d.max_energy_range_uj / _UJ_PER_J
                energies[d.name] = delta
            laps.append(energies)
        return durations, cpu_times, laps, corrections, [b[3] for b in marks[1:]]

    def end(self, *, idle_window_s: float = 0.0,
            sleep: Callable[[float], None] = time.sleep) -> EnergyMeasurement:
        """Close the window and return its :class:`EnergyMeasurement`.

        Args:
            idle_window_s: cap of the idle baseline window (in s): the idle window lasts as long as the measured
                window, up to this cap; ``0`` skips it. Only on the measured path.
            sleep: how the idle window waits (tests pass a fake that advances fake counters).
        """
        if self._marks is None:
            raise RuntimeError("no energy window is open: call begin() first")
        if len(self._marks) == 1:
            self.lap()
        durations, cpu_times, laps, corrections, memories = self._close()
        duration_s = float(sum(durations))
        notes = list(self.notes)
        constants: dict[str, Any] = {}
        idle_power_w = idle_s = None
        components: dict[str, Any] = {}
        if self.domains:
            by_repeat = tuple(sum(lap.values()) for lap in laps)
            by_domain = {d.name: sum(lap[d.name] for lap in laps) for d in self.domains}
            domains = tuple(d.name for d in self.domains)
            tool = TOOL
            if idle_window_s and idle_window_s > 0:
                idle_power_w, idle_s = self.measure_idle_power(min(duration_s, idle_window_s), sleep=sleep)
        elif self.power_model is not None:
            by_repeat, domains, by_domain, tool, constants, components = self._power_model_energy(
                durations, cpu_times, memories)
        else:
            assert self.estimate is not None
            by_repeat = tuple(self.estimate.power_w * d for d in durations)
            domains = (f"estimate:{self.estimate.hardware}",)
            tool = "greenaudio.measure (catalogue power x time)"
            constants = self.estimate.to_dict()
        if not self.domains:
            notes.append("idle baseline not available on the estimate path (no counter to read)")
        energy_j = float(sum(by_repeat))
        if not self.domains and self.power_model is None:
            by_domain = {domains[0]: energy_j}
        return EnergyMeasurement(
            energy_j=energy_j, duration_s=duration_s, repeats=len(durations),
            energy_by_repeat_j=tuple(float(e) for e in by_repeat), energy_by_domain_j=by_domain, method=self.method,
            domains=domains, tool=tool, device_model=self._measured_device_model(),
            host_type=detect_host_type().kind, idle_power_w=idle_power_w, idle_duration_s=idle_s,
            constants=constants, corrections=tuple(corrections), notes=tuple(notes), **components)

    def _power_model_energy(self, durations: list, cpu_times: list, memories: list):
        """The window by the power model (CPU rule, and the RAM rule when set): ``(energy by repeat, domains, energy
        by domain, tool, constants, components)`` of :meth:`end`."""
        pm, ram = self.power_model, self.ram_model
        duration_s = float(sum(durations))
        cpu_laps = [pm.energy_j(c) for c in cpu_times]
        ram_laps = [ram.energy_j(m, d) for m, d in zip(memories, durations)] if ram is not None else []
        cpu_total = float(sum(cpu_times))
        estimate = CodeCarbonEnergy(float(sum(cpu_laps)), float(sum(ram_laps)) if ram is not None else None,
                                    cpu_total, duration_s, max(memories) if ram is not None else None, pm, ram)
        by_repeat = tuple(c + (ram_laps[i] if ram is not None else 0.0) for i, c in enumerate(cpu_laps))
        domains = (f"estimate:cpu ({pm.cpu_model})",)
        by_domain = {domains[0]: estimate.cpu_energy_j}
        tool = f"greenaudio.measure with {pm.name}"
        if ram is not None:
            domains += ("estimate:ram (resident memory of the process and its children)",)
            by_domain[domains[1]] = estimate.ram_energy_j
            tool += f" + {ram.name}"
        constants = estimate.constants() | {
            "mean_process_load": (cpu_total / duration_s / pm.logical_cpus) if duration_s else None,
        }
        components = {"cpu_energy_j": estimate.cpu_energy_j, "ram_energy_j": estimate.ram_energy_j,
                      "component_methods": estimate.component_methods}
        return by_repeat, domains, by_domain, tool, constants, components

    def _measured_device_model(self) -> str:
        """The device model; for an NVML-measured GPU, the name NVML reports."""
        if self.device.type == "cuda" and any(d.kind == "nvml" for d in self.domains):
            try:
                import pynvml

                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(self.device.index or 0))
                return name.decode() if isinstance(name, bytes) else str(name)
            except Exception:
                pass
        if self.power_model is not None:
            return self.power_model.cpu_model
        return _device_model(self.device)

    def measure_idle_power(self, duration_s: float, sleep: Callable[[float], None] = time.sleep) -> tuple[float, float]:
        """Mean power of the counters while the process sleeps ``duration_s`` seconds.

        Returns:
            ``(idle_power_w, idle_duration_s)``.
        """
        if not self.domains:
            raise RuntimeError("an idle baseline needs energy counters; this monitor estimates")
        if not duration_s > 0:
            raise ValueError(f"idle duration must be > 0 s, got {duration_s!r}")
        self.begin()
        sleep(duration_s)
        self.lap()
        durations, _, laps, _, _ = self._close()
        return sum(laps[0].values()) / durations[0], durations[0]

    def measure(self, fn: Callable[[], Any], *, repeats: int = 1, idle_window_s: float = 0.0) -> EnergyMeasurement:
        """Run ``fn()`` ``repeats`` times in one window (one lap each) and return the measurement."""
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
        self.begin()
        try:
            for _ in range(repeats):
                fn()
                self.lap()
        except BaseException:
            self._marks = None
            raise
        return self.end(idle_window_s=idle_window_s)


def merge_energy_windows(windows: Sequence[EnergyMeasurement]) -> EnergyMeasurement:
    """One measurement from several windows of one workload measured the same way, e.g. runs interleaved with other
    workloads' runs (each in its own ``begin()``/``end()`` window).

    Energies, durations, repeats and per-domain energies are summed and the per-repeat energies concatenated; an
    estimate's ``process_cpu_time_s`` constant is summed and its ``mean_process_load`` recomputed over the summed
    duration (``process_cpu_time_s / duration_s / logical_cpus``); CodeCarbon's components (``cpu_energy_j``,
    ``ram_energy_j``, in the fields and the constants) are summed, its ``ram_power_w`` recomputed over the summed
    duration and its ``process_memory_gib`` is the largest; idle power is kept only when every window has one (then
    averaged, weighted by idle duration). Corrections and notes are joined without repeats.

    Raises:
        ValueError: no window, or windows of different methods (a measured and an estimated energy do not add up).
    """
    if not windows:
        raise ValueError("no energy window to merge: give at least one EnergyMeasurement")
    methods = sorted({w.method for w in windows})
    if len(methods) > 1:
        raise ValueError(f"energy windows of different methods {methods} cannot be merged; merge one method at a time")
    first = windows[0]
    duration = float(sum(w.duration_s for w in windows))
    by_domain: dict[str, float] = {}
    for w in windows:
        for name, joules in w.energy_by_domain_j.items():
            by_domain[name] = by_domain.get(name, 0.0) + float(joules)
    constants = dict(first.constants)
    if "process_cpu_time_s" in constants:
        cpu = float(sum(float(w.constants.get("process_cpu_time_s") or 0.0) for w in windows))
        constants["process_cpu_time_s"] = cpu
        if "mean_process_load" in constants and constants.get("logical_cpus"):
            constants["mean_process_load"] = cpu / duration / constants["logical_cpus"] if duration else None
    components = {}
    for name in ("cpu_energy_j", "ram_energy_j"):
        values = [getattr(w, name) for w in windows]
        components[name] = float(sum(values)) if all(v is not None for v in values) else None
        if name in constants:
            constants[name] = components[name]
    if components["ram_energy_j"] is not None and "ram_power_w" in constants and duration:
        constants["ram_power_w"] = components["ram_energy_j"] / duration
    if constants.get("process_memory_gib") is not None:
        constants["process_memory_gib"] = max(float(w.constants.get("process_memory_gib") or 0.0) for w in windows)
    idle_power = idle_s = None
    if all(w.idle_power_w is not None and w.idle_duration_s for w in windows):
        idle_s = float(sum(w.idle_duration_s for w in windows))
        idle_power = float(sum(w.idle_power_w * w.idle_duration_s for w in windows)) / idle_s
    unique = lambda items: tuple(dict.fromkeys(items))  # noqa: E731 - keep order, drop repeats
    return replace(first, energy_j=float(sum(w.energy_j for w in windows)), duration_s=duration,
                   repeats=int(sum(w.repeats for w in windows)),
                   energy_by_repeat_j=tuple(e for w in windows for e in w.energy_by_repeat_j),
                   energy_by_domain_j=by_domain, idle_power_w=idle_power, idle_duration_s=idle_s, constants=constants,
                   corrections=unique(c for w in windows for c in w.corrections),
                   notes=unique(n for w in windows for n in w.notes), **components)
