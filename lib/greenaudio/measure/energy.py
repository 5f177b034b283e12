"""Energy of a workload, measured where counters exist and estimated otherwise, never without its provenance.

Used by: notebooks/05_1_cost_benchmark.ipynb, :func:`greenaudio.measure.benchmark_model`.

The thesis (§5.2.3) measured ``E_gen`` with pyJoules, which reads Intel RAPL (CPU package, DRAM) and the NVIDIA NVML
energy counter (Volta or newer) at the start and end of a window. This module does the same through pyJoules 0.5.1,
with its known defects handled:

* on a machine with no counters device discovery returns ``[]`` and ``EnergyMeter`` dies with
  ``TypeError: reduce() of empty iterable``: we discover the domains ourselves and take the *estimate* path;
* a RAPL counter wraps around at ``max_energy_range_uj``, which pyJoules reports as negative energy: we add the range
  back (one wrap per window; windows are split per repeat so each stays well below the wrap period);
* pyJoules does not synchronise CUDA: :func:`greenaudio.measure.timing.synchronize` is called before every reading;
* pyJoules's default domain list includes RAPL ``core``/``uncore``, which are *parts* of ``package``: only
  ``package`` and ``dram`` are summed here, so nothing is counted twice.

Where no counter covers the device, the energy is an explicit **estimate**: device power (from
:func:`greenaudio.carbon.get_hardware`, times a utilisation and, for CPUs, the share of cores used) times the measured
time, every constant recorded in :attr:`EnergyMeasurement.constants`.

Every result is an :class:`EnergyMeasurement`: method (``"measured:rapl[package,dram]"``,
``"measured:nvml-energy-counter"``, ``"estimated:power x time"``), domains, tool and version, device model, host
type, duration, repeats and an idle baseline measured over a comparable window, *reported and not subtracted*.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .environment import detect_host_type, read_cpu_model
from .timing import synchronize

__all__ = [
    "EnergyMeasurement",
    "EnergyMonitor",
    "PowerEstimate",
    "discover_energy_domains",
    "resolve_power_estimate",
    "METHOD_ESTIMATED",
]

#: Method label of the estimate path.
METHOD_ESTIMATED = "estimated:power x time"
_RAPL_KINDS = ("package", "dram")  # core/uncore are sub-domains of package: never summed with it
_UJ_PER_J = 1e6  # RAPL counters are in microjoules
_MJ_PER_J = 1e3  # the NVML energy counter is in millijoules


def _pyjoules_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pyJoules")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


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
            both joined by ``+``, or ``"estimated:power x time"``).
        domains: the sensor domains (measured) or the estimated device (``"estimate:<hardware>"``).
        tool: tool and version (``"pyJoules 0.5.1"`` or ``"greenaudio.measure"``).
        device_model: the device the workload ran on (CPU or GPU model string).
        host_type: ``"bare metal"``, ``"virtual machine"``, ``"container"``... (see :mod:`.environment`).
        idle_power_w: mean power over an idle window right after the workload (in W); ``None`` when not measured
            (estimate path, or ``idle_window_s=0``). Reported, never subtracted from ``energy_j``.
        idle_duration_s: length of that idle window (in s).
        constants: every constant of an estimate (hardware, power in W, utilisation, core share, their source).
        corrections: corrections applied to raw readings (counter wraparounds), human-readable.
        notes: caveats (domains not covered, fall-backs of hardware auto-detection).
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
        return {
            "hardware": self.hardware,
            "kind": self.kind,
            "max_power_w": self.max_power_w,
            "utilisation": self.utilisation,
            "core_share": self.core_share,
            "power_w": self.power_w,
            "source": self.source,
        }


#: Catalogue entry used for a CPU whose model string is not in the catalogue.
FALLBACK_CPU = "carbontracker GenericCPU"


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


def resolve_power_estimate(
    device: str | torch.device = "cpu",
    hardware: str | None = None,
    *,
    utilisation: float = 1.0,
    cpu_cores_used: int | None = None,
    cpu_cores_total: int | None = None,
) -> PowerEstimate:
    """Choose the device power of an estimate.

    Args:
        device: ``"cpu"`` or ``"cuda[:i]"``.
        hardware: catalogue name (:func:`greenaudio.carbon.list_hardware`); ``None`` auto-detects from the CPU/GPU
            model string (through the catalogue's aliases) and says so in ``notes``; an unknown CPU falls back to
            :data:`FALLBACK_CPU` (35.61 W), an unknown GPU raises.
        utilisation: fraction of the maximum power assumed drawn, in (0, 1].
        cpu_cores_used: CPU cores the workload uses (e.g. torch threads); with ``cpu_cores_total`` gives the share
            of the package's TDP charged.
        cpu_cores_total: cores of the CPU package.

    Returns:
        :class:`PowerEstimate`.
    """
    from greenaudio import carbon

    dev = torch.device(device)
    utilisation = _fraction("utilisation", utilisation)
    notes: list[str] = []
    if hardware is None:
        model = _device_model(dev)
        try:
            spec = carbon.get_hardware(model)
            notes.append(f"hardware auto-detected: {model!r} -> catalogue entry {spec.name!r}")
        except ValueError:
            if dev.type == "cuda":
                raise ValueError(
                    f"GPU {model!r} is not in the hardware catalogue; pass hardware= one of "
                    f"{carbon.list_hardware('gpu')}"
                ) from None
            spec = carbon.get_hardware(FALLBACK_CPU)
            notes.append(
                f"FALLBACK: CPU {model!r} is not in the hardware catalogue; using {spec.name!r} "
                f"({spec.max_power_w:g} W). Pass hardware= one of {carbon.list_hardware('cpu')} for a better estimate"
            )
    else:
        spec = carbon.get_hardware(hardware)
        notes.append(f"hardware given explicitly: {spec.name!r}")
    expected_kind = "gpu" if dev.type == "cuda" else "cpu"
    if spec.kind != expected_kind:
        raise ValueError(f"hardware {spec.name!r} is a {spec.kind}, but the device {str(dev)!r} needs a {expected_kind}")
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
    return PowerEstimate(
        hardware=spec.name,
        kind=spec.kind,
        max_power_w=float(spec.max_power_w),
        utilisation=utilisation,
        core_share=share,
        source=spec.source,
        notes=tuple(notes),
    )


# -- counters -----------------------------------------------------------------------------------------------------
def _rapl_domains() -> list[Any]:
    """RAPL package and DRAM domains whose counters are readable (RAPL is root-only since Linux 5.10)."""
    from pyJoules.device import rapl_device
    from pyJoules.exception import NoSuchDeviceError

    try:
        domains = rapl_device.RaplDevice.available_package_domains() + rapl_device.RaplDevice.available_dram_domains()
    except (NoSuchDeviceError, OSError):
        return []
    if not os.path.exists(rapl_device.RAPL_API_DIR):
        return []
    readable = []
    device = rapl_device.RaplDevice.__new__(rapl_device.RaplDevice)  # only to resolve file names
    for d in domains:
        try:
            with open(device._get_domain_file_name(d)) as f:
                float(f.readline())
            readable.append(d)
        except (OSError, ValueError):
            continue
    return readable


def _nvml_domains(device_index: int) -> list[Any]:
    """The NVML GPU domain of one device if its energy counter can be read (Volta or newer)."""
    try:
        import pynvml
        from pyJoules.device.nvidia_device import NvidiaGPUDomain
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        if device_index >= pynvml.nvmlDeviceGetCount():
            return []
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception:  # NVMLError (no driver, NotSupported on pre-Volta GPUs), or a missing library
        return []
    return [NvidiaGPUDomain(device_index)]


def discover_energy_domains(device: str | torch.device = "cpu") -> list[Any]:
    """pyJoules domains whose counters cover a run on ``device``: RAPL package + DRAM, plus the NVML domain of the
    CUDA device when ``device`` is CUDA. Returns ``[]`` (never raises) on a machine without readable counters."""
    dev = torch.device(device)
    domains = _rapl_domains()
    if dev.type == "cuda":
        domains += _nvml_domains(dev.index or 0)
    return domains


def _domain_kind(domain: Any) -> str:
    name = str(domain)
    return "nvml" if name.startswith("nvidia_gpu") else name.rsplit("_", 1)[0]


def _method_for(domains: list[Any]) -> str:
    kinds = [_domain_kind(d) for d in domains]
    parts = []
    rapl = [k for k in _RAPL_KINDS if k in kinds]
    if rapl:
        parts.append(f"measured:rapl[{','.join(rapl)}]")
    if "nvml" in kinds:
        parts.append("measured:nvml-energy-counter")
    return "+".join(parts)


def _max_range_uj(domain: Any) -> float | None:
    """``max_energy_range_uj`` of a RAPL domain's zone (sub-zones without one use their package's)."""
    from pyJoules.device import rapl_device

    device = rapl_device.RaplDevice.__new__(rapl_device.RaplDevice)
    zone = os.path.dirname(device._get_domain_file_name(domain))
    for candidate in (zone, os.path.dirname(zone) if zone != rapl_device.RAPL_API_DIR else zone):
        path = os.path.join(candidate, "max_energy_range_uj")
        try:
            with open(path) as f:
                return float(f.readline())
        except (OSError, ValueError):
            continue
    return None


class EnergyMonitor:
    """Measure (or estimate) the energy of a workload run ``repeats`` times.

    Use :meth:`begin`, then :meth:`lap` after each run, then :meth:`end`; or :meth:`measure` for all of it.

    Args:
        device: where the workload runs (``"cpu"``, ``"cuda:0"``).
        mode: ``"auto"`` (measure if counters cover the device, else estimate), ``"measured"`` (raise if no
            counter) or ``"estimated"``.
        hardware, utilisation, cpu_cores_used, cpu_cores_total: constants of the estimate path
            (see :func:`resolve_power_estimate`); ignored when measuring.
    """

    MODES = ("auto", "measured", "estimated")

    def __init__(
        self,
        device: str | torch.device = "cpu",
        *,
        mode: str = "auto",
        hardware: str | None = None,
        utilisation: float = 1.0,
        cpu_cores_used: int | None = None,
        cpu_cores_total: int | None = None,
    ):
        if mode not in self.MODES:
            raise ValueError(f"mode={mode!r} is not valid; choose one of {list(self.MODES)}")
        self.device = torch.device(device)
        self.domains = [] if mode == "estimated" else discover_energy_domains(self.device)
        self.notes: list[str] = []
        if self.domains and self.device.type == "cuda" and not any(_domain_kind(d) == "nvml" for d in self.domains):
            self.notes.append("no NVML energy counter for this GPU: RAPL only would miss the GPU, estimating instead")
            self.domains = []
        if self.domains and self.device.type == "cuda" and not any(_domain_kind(d) != "nvml" for d in self.domains):
            self.notes.append("no readable RAPL counters: CPU and DRAM energy are not included (GPU only)")
        if mode == "measured" and not self.domains:
            raise ValueError(f"no readable energy counter covers device {str(self.device)!r} (mode='measured')")
        self.estimate: PowerEstimate | None = None
        if not self.domains:
            self.estimate = resolve_power_estimate(
                self.device,
                hardware,
                utilisation=utilisation,
                cpu_cores_used=cpu_cores_used,
                cpu_cores_total=cpu_cores_total,
            )
            self.notes.extend(self.estimate.notes)
            if mode == "auto":
                self.notes.insert(0, "no readable energy counter (RAPL/NVML) on this machine: energy is estimated")
        self._meter = None
        self._times: list[float] | None = None

    @property
    def method(self) -> str:
        """The method label results will carry."""
        return _method_for(self.domains) if self.domains else METHOD_ESTIMATED

    # -- windows -----------------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Open a window (synchronises the device first)."""
        if self._times is not None:
            raise RuntimeError("an energy window is already open: call end() first")
        if self.device.type != "cuda" or torch.cuda.is_available():
            synchronize(self.device)
        if self.domains:
            from pyJoules.device import DeviceFactory
            from pyJoules.energy_meter import EnergyMeter

            self._meter = EnergyMeter(DeviceFactory.create_devices(self.domains))
            self._times = [time.perf_counter()]
            self._meter.start(tag="run")
        else:
            self._times = [time.perf_counter()]

    def lap(self) -> None:
        """Close the current run and start the next one (synchronises the device first)."""
        if self._times is None:
            raise RuntimeError("no energy window is open: call begin() first")
        if self.device.type != "cuda" or torch.cuda.is_available():
            synchronize(self.device)
        if self._meter is not None:
            self._meter.record(tag="run")
        self._times.append(time.perf_counter())

    def _close(self) -> tuple[list[float], list[dict[str, float]], list[str]]:
        """Stop the meter; per-lap durations (s), per-lap energies per domain (J), corrections."""
        assert self._times is not None
        times = self._times
        meter = self._meter
        self._times, self._meter = None, None
        durations = [b - a for a, b in zip(times[:-1], times[1:])]
        if meter is None:
            return durations, [], []
        meter.stop()
        samples = [s for s in meter.get_trace() if s.tag == "run"]
        corrections: list[str] = []
        laps = []
        for i, sample in enumerate(samples[: len(durations)]):
            energies = {}
            for domain in self.domains:
                raw = float(sample.energy[str(domain)])
                if _domain_kind(domain) == "nvml":
                    if raw < 0:
                        raise RuntimeError(f"NVML energy counter of {domain} went backwards ({raw} mJ): driver reset?")
                    energies[str(domain)] = raw / _MJ_PER_J
                    continue
                if raw < 0:
                    rng = _max_range_uj(domain)
                    if rng is None:
                        raise RuntimeError(f"RAPL counter {domain} wrapped around but max_energy_range_uj is unreadable")
                    corrections.append(f"run {i}: {domain} wrapped around; added max_energy_range_uj={rng:g} uJ")
                    raw += rng
                energies[str(domain)] = raw / _UJ_PER_J
            laps.append(energies)
        return durations, laps, corrections

    def end(self, *, idle_window_s: float = 0.0) -> EnergyMeasurement:
        """Close the window and return its :class:`EnergyMeasurement`.

        Args:
            idle_window_s: cap of the idle baseline window (in s): the idle window lasts as long as the measured
                window, up to this cap; ``0`` skips it. Only on the measured path.
        """
        if self._times is None:
            raise RuntimeError("no energy window is open: call begin() first")
        if len(self._times) == 1:
            self.lap()
        durations, laps, corrections = self._close()
        duration_s = float(sum(durations))
        notes = list(self.notes)
        if self.domains:
            by_repeat = tuple(sum(lap.values()) for lap in laps)
            by_domain = {str(d): sum(lap[str(d)] for lap in laps) for d in self.domains}
            energy_j = float(sum(by_repeat))
            domains = tuple(str(d) for d in self.domains)
            tool = f"pyJoules {_pyjoules_version()}"
            constants: dict[str, Any] = {}
            idle_power_w = idle_s = None
            if idle_window_s and idle_window_s > 0:
                idle_power_w, idle_s = self.measure_idle_power(min(duration_s, idle_window_s))
        else:
            assert self.estimate is not None
            power = self.estimate.power_w
            by_repeat = tuple(power * d for d in durations)
            energy_j = float(sum(by_repeat))
            domains = (f"estimate:{self.estimate.hardware}",)
            by_domain = {domains[0]: energy_j}
            tool = "greenaudio.measure"
            constants = self.estimate.to_dict()
            idle_power_w = idle_s = None
            notes.append("idle baseline not available on the estimate path (no counter to read)")
        return EnergyMeasurement(
            energy_j=energy_j,
            duration_s=duration_s,
            repeats=len(durations),
            energy_by_repeat_j=tuple(float(e) for e in by_repeat),
            energy_by_domain_j=by_domain,
            method=self.method,
            domains=domains,
            tool=tool,
            device_model=self._measured_device_model(),
            host_type=detect_host_type().kind,
            idle_power_w=idle_power_w,
            idle_duration_s=idle_s,
            constants=constants,
            corrections=tuple(corrections),
            notes=tuple(notes),
        )

    def _measured_device_model(self) -> str:
        """The device model; for an NVML-measured GPU, the name NVML reports."""
        if self.device.type == "cuda" and any(_domain_kind(d) == "nvml" for d in self.domains):
            try:
                import pynvml

                name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(self.device.index or 0))
                return name.decode() if isinstance(name, bytes) else str(name)
            except Exception:
                pass
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
        durations, laps, _ = self._close()
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
            self._times, self._meter = None, None
            raise
        return self.end(idle_window_s=idle_window_s)
