"""Energy measurement without hardware: a fake RAPL sysfs tree and a fake NVML drive the measured path
(exact joules, wraparound); on a machine without counters the estimate path is taken and labelled."""

import time

import pytest
import torch

torch.set_num_threads(1)

from pyJoules.device import rapl_device  # noqa: E402

from greenaudio import measure  # noqa: E402
from greenaudio.measure import EnergyMeasurement, EnergyMonitor  # noqa: E402

MAX_RANGE_UJ = 262_143_328_850  # a real package's max_energy_range_uj


class FakeRapl:
    """A sysfs tree ``intel-rapl:0/{name, energy_uj, max_energy_range_uj}`` with a ``dram`` sub-zone."""

    def __init__(self, root, package_uj=1_000_000, dram_uj=500_000):
        self.root = root
        self.pkg = root / "intel-rapl:0"
        self.dram = self.pkg / "intel-rapl:0:0"
        self.dram.mkdir(parents=True)
        (self.pkg / "name").write_text("package-0\n")
        (self.pkg / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
        (self.dram / "name").write_text("dram\n")
        self.set(package_uj, dram_uj)

    def set(self, package_uj, dram_uj):
        self.package_uj, self.dram_uj = package_uj, dram_uj
        (self.pkg / "energy_uj").write_text(f"{package_uj}\n")
        (self.dram / "energy_uj").write_text(f"{dram_uj}\n")

    def advance(self, package_uj, dram_uj):
        """A fake workload: the counters go up (and wrap at max_energy_range_uj)."""
        self.set((self.package_uj + package_uj) % MAX_RANGE_UJ, (self.dram_uj + dram_uj) % MAX_RANGE_UJ)


@pytest.fixture
def fake_rapl(tmp_path, monkeypatch):
    root = tmp_path / "intel-rapl"
    root.mkdir()
    monkeypatch.setattr(rapl_device, "RAPL_API_DIR", str(root))
    return FakeRapl(root)


@pytest.fixture
def no_rapl(tmp_path, monkeypatch):
    monkeypatch.setattr(rapl_device, "RAPL_API_DIR", str(tmp_path / "absent"))


@pytest.fixture
def no_nvml(monkeypatch):
    import pynvml

    def fail():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)


class FakeNvml:
    def __init__(self, monkeypatch, start_mj=10_000_000):
        import pynvml

        self.mj = start_mj
        monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: f"handle{i}")
        monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lambda h: self.mj)
        monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: "NVIDIA RTX A5000")


def test_fake_rapl_gives_exact_joules_per_repeat(fake_rapl, no_nvml):
    monitor = EnergyMonitor("cpu")
    assert monitor.method == "measured:rapl[package,dram]"
    m = monitor.measure(lambda: fake_rapl.advance(2_500_000, 500_000), repeats=3)
    assert m.method == "measured:rapl[package,dram]"
    assert m.domains == ("package_0", "dram_0")
    assert m.energy_by_repeat_j == (3.0, 3.0, 3.0)
    assert m.energy_j == 9.0
    assert dict(m.energy_by_domain_j) == {"package_0": 7.5, "dram_0": 1.5}
    assert m.tool == "pyJoules 0.5.1"
    assert m.is_measured and m.repeats == 3 and m.corrections == ()
    assert m.idle_power_w is None  # idle_window_s=0: not measured
    assert m.host_type in ("bare metal", "virtual machine", "container", "container in virtual machine", "unknown")


def test_fake_rapl_wraparound_is_corrected(fake_rapl, no_nvml):
    fake_rapl.set(MAX_RANGE_UJ - 1_000_000, 7)  # package 1 J below its wrap
    monitor = EnergyMonitor("cpu")
    m = monitor.measure(lambda: fake_rapl.advance(4_000_000, 2_000_000), repeats=2)
    assert m.energy_by_repeat_j == (6.0, 6.0)  # raw package delta of repeat 0 is negative
    assert m.energy_by_domain_j["package_0"] == 8.0
    assert len(m.corrections) == 1 and "package_0 wrapped around" in m.corrections[0]
    assert all(e >= 0 for e in m.energy_by_repeat_j)


def test_fake_rapl_idle_baseline_is_reported_not_subtracted(fake_rapl, no_nvml):
    monitor = EnergyMonitor("cpu")

    def idle_sleep(duration_s):
        time.sleep(0.01)
        fake_rapl.advance(1_000_000, 0)

    power_w, duration_s = monitor.measure_idle_power(0.01, sleep=idle_sleep)
    assert power_w * duration_s == pytest.approx(1.0, rel=1e-12)
    m = EnergyMeasurement(
        energy_j=5.0, duration_s=2.0, repeats=1, energy_by_repeat_j=(5.0,), energy_by_domain_j={},
        method=monitor.method, domains=("package_0",), tool="t", device_model="cpu", host_type="bare metal",
        idle_power_w=1.5, idle_duration_s=2.0,
    )
    assert m.energy_j == 5.0 and m.idle_energy_j == 3.0 and m.energy_above_idle_j == 2.0


def test_fake_nvml_energy_counter(no_rapl, monkeypatch):
    nvml = FakeNvml(monkeypatch)
    monitor = EnergyMonitor("cuda:0")  # CUDA itself is not touched (no torch.cuda on this machine)
    assert monitor.method == "measured:nvml-energy-counter"

    def work():
        nvml.mj += 1234  # millijoules

    m = monitor.measure(work, repeats=2)
    assert m.energy_by_repeat_j == (1.234, 1.234)
    assert m.energy_j == pytest.approx(2.468, abs=1e-12)
    assert m.domains == ("nvidia_gpu_0",)
    assert m.device_model == "NVIDIA RTX A5000"
    assert any("CPU and DRAM energy are not included" in n for n in m.notes)


def test_rapl_and_nvml_together(fake_rapl, monkeypatch):
    nvml = FakeNvml(monkeypatch)
    monitor = EnergyMonitor("cuda:0")
    assert monitor.method == "measured:rapl[package,dram]+measured:nvml-energy-counter"

    def work():
        nvml.mj += 2000
        fake_rapl.advance(1_000_000, 0)

    m = monitor.measure(work, repeats=1)
    assert m.energy_j == 3.0


def test_estimate_path_without_counters_is_labelled(no_rapl, no_nvml):
    assert measure.discover_energy_domains("cpu") == []
    monitor = EnergyMonitor("cpu", hardware="Xeon Gold 5220R", utilisation=0.5, cpu_cores_used=6, cpu_cores_total=24)
    m = monitor.measure(lambda: time.sleep(0.01), repeats=2)
    assert m.method == "estimated:power x time" == measure.METHOD_ESTIMATED
    assert not m.is_measured
    c = m.constants
    assert (c["hardware"], c["max_power_w"], c["utilisation"], c["core_share"]) == ("Xeon Gold 5220R", 150.0, 0.5, 0.25)
    assert c["power_w"] == 18.75 and "Intel" in c["source"]
    assert m.energy_j == pytest.approx(18.75 * m.duration_s, rel=1e-9)
    assert m.idle_power_w is None
    assert any("estimated" in n for n in m.notes)


def test_this_machine_takes_a_labelled_path():
    """Real discovery on whatever machine runs the tests never crashes (pyJoules's own EnergyMeter would)."""
    monitor = EnergyMonitor("cpu")
    m = monitor.measure(lambda: None, repeats=1)
    if measure.discover_energy_domains("cpu"):
        assert m.method.startswith("measured:rapl")
    else:
        assert m.method == "estimated:power x time"
        assert m.constants["power_w"] > 0


def test_auto_detection_fallback_is_stated(monkeypatch):
    from greenaudio.measure import energy

    monkeypatch.setattr(energy, "read_cpu_model", lambda: "Some Unknown CPU 9000")
    est = measure.resolve_power_estimate("cpu")
    assert est.hardware == energy.FALLBACK_CPU
    assert any(n.startswith("FALLBACK") and "Some Unknown CPU 9000" in n for n in est.notes)
    monkeypatch.setattr(energy, "read_cpu_model", lambda: "Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz")
    est = measure.resolve_power_estimate("cpu")
    assert est.hardware == "Xeon Gold 5220R" and "auto-detected" in est.notes[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hardware": "No Such Chip"},
        {"hardware": "RTX A5000"},  # a GPU for a CPU run
        {"utilisation": 0.0},
        {"utilisation": 1.5},
        {"cpu_cores_used": 4},
        {"cpu_cores_used": 8, "cpu_cores_total": 4},
    ],
)
def test_bad_estimate_inputs_raise(kwargs):
    with pytest.raises(ValueError):
        measure.resolve_power_estimate("cpu", **{"hardware": "Xeon Gold 5220R", **kwargs})


def test_misuse_raises(no_rapl, no_nvml):
    with pytest.raises(ValueError, match="mode"):
        EnergyMonitor("cpu", mode="guess")
    with pytest.raises(ValueError, match="no readable energy counter"):
        EnergyMonitor("cpu", mode="measured")
    monitor = EnergyMonitor("cpu", hardware="Xeon Gold 5220R")
    with pytest.raises(RuntimeError):
        monitor.lap()
    monitor.begin()
    with pytest.raises(RuntimeError, match="already open"):
        monitor.begin()
    with pytest.raises(ValueError):
        monitor.measure(lambda: None, repeats=0)
    with pytest.raises(ValueError):
        EnergyMeasurement(energy_j=-1.0, duration_s=1.0, repeats=1, energy_by_repeat_j=(), energy_by_domain_j={},
                          method="m", domains=(), tool="t", device_model="d", host_type="h")
