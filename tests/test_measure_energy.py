"""Energy without hardware: fake RAPL sysfs trees, a fake NVML module, fake wall and CPU clocks.

Every expected value is computed by hand from the fake counters (µJ for RAPL, mJ for NVML) and the power models'
published constants; no test depends on which sensors the machine running it has.
"""

import subprocess
import sys
import types

import pytest
import torch

from greenaudio import measure
from greenaudio.measure import EnergyMonitor

MAX_RANGE_UJ = 262_143_328_850  # a real package's max_energy_range_uj


class Clock:
    """A fake clock: ``advance(s)`` moves it; calling it reads it."""

    def __init__(self, start=100.0):
        self.t = start

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class FakeRapl:
    """``intel-rapl:0`` (package-0) with ``core`` and ``dram`` sub-zones, as in /sys/class/powercap."""

    def __init__(self, root, package_uj=1_000_000, dram_uj=500_000, core_uj=0):
        self.pkg = root / "intel-rapl:0"
        self.core = self.pkg / "intel-rapl:0:0"
        self.dram = self.pkg / "intel-rapl:0:1"
        for zone, name in ((self.pkg, "package-0"), (self.core, "core"), (self.dram, "dram")):
            zone.mkdir(parents=True, exist_ok=True)
            (zone / "name").write_text(name + "\n")
        (self.pkg / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
        self.values = {"pkg": package_uj, "dram": dram_uj, "core": core_uj}
        self._write()

    def _write(self):
        for key, zone in (("pkg", self.pkg), ("dram", self.dram), ("core", self.core)):
            (zone / "energy_uj").write_text(f"{self.values[key]}\n")

    def advance(self, package_uj=0, dram_uj=0, core_uj=0):
        """A fake workload: the counters go up, wrapping at max_energy_range_uj as the hardware does."""
        for key, delta in (("pkg", package_uj), ("dram", dram_uj), ("core", core_uj)):
            self.values[key] = (self.values[key] + delta) % MAX_RANGE_UJ
        self._write()


@pytest.fixture
def rapl(tmp_path):
    root = tmp_path / "powercap"
    return root, FakeRapl(root)


@pytest.fixture
def empty_root(tmp_path):
    root = tmp_path / "no-powercap"
    root.mkdir()
    return root


def test_rapl_exact_joules_per_repeat_core_not_double_counted(rapl):
    root, fake = rapl
    clock = Clock()
    monitor = EnergyMonitor("cpu", rapl_root=root, clock=clock)
    assert monitor.method == "measured:rapl[package,dram]"

    def workload():  # 2.5 J package (of which 2 J core), 0.5 J DRAM, 2 s
        fake.advance(package_uj=2_500_000, dram_uj=500_000, core_uj=2_000_000)
        clock.advance(2.0)

    m = monitor.measure(workload, repeats=3)
    assert m.energy_by_repeat_j == (3.0, 3.0, 3.0)
    assert m.energy_j == 9.0
    assert dict(m.energy_by_domain_j) == {"package_0": 7.5, "dram_0": 1.5}
    assert m.domains == ("package_0", "dram_0")
    assert m.duration_s == 6.0 and m.repeats == 3 and m.mean_power_w == 1.5
    assert m.is_measured and m.corrections == () and m.idle_power_w is None


def test_rapl_wraparound_adds_the_range_back(tmp_path):
    root = tmp_path / "powercap"
    fake = FakeRapl(root, package_uj=MAX_RANGE_UJ - 1_000_000, dram_uj=0)
    clock = Clock()
    monitor = EnergyMonitor("cpu", rapl_root=root, clock=clock)
    monitor.begin()
    fake.advance(package_uj=3_000_000, dram_uj=250_000)  # the package counter wraps: reads 2_000_000 afterwards
    clock.advance(1.0)
    m = monitor.end()
    assert fake.values["pkg"] == 2_000_000
    assert m.energy_by_domain_j["package_0"] == pytest.approx(3.0, abs=1e-9)
    assert m.energy_j == pytest.approx(3.25, abs=1e-9)
    assert len(m.corrections) == 1 and "package_0 wrapped around" in m.corrections[0]


def test_idle_window_is_reported_not_subtracted(rapl):
    root, fake = rapl
    clock = Clock()
    monitor = EnergyMonitor("cpu", rapl_root=root, clock=clock)
    monitor.begin()
    for _ in range(3):  # 3 runs of 2 s at 12 J each
        fake.advance(package_uj=10_000_000, dram_uj=2_000_000)
        clock.advance(2.0)
        monitor.lap()
    slept = []

    def idle_sleep(seconds):  # idle: 4 W package + 1 W DRAM
        slept.append(seconds)
        fake.advance(package_uj=int(4e6 * seconds), dram_uj=int(1e6 * seconds))
        clock.advance(seconds)

    m = monitor.end(idle_window_s=5.0, sleep=idle_sleep)
    assert slept == [5.0]  # min(measured window 6 s, cap 5 s)
    assert m.idle_duration_s == 5.0
    assert m.idle_power_w == pytest.approx(5.0)
    assert m.energy_j == pytest.approx(36.0)  # not idle-corrected
    assert m.idle_energy_j == pytest.approx(30.0)
    assert m.energy_above_idle_j == pytest.approx(6.0)


def _fake_pynvml(monkeypatch, counter_mj):
    fake = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    fake.NVMLError = NVMLError
    fake.nvmlInit = lambda: None
    fake.nvmlDeviceGetCount = lambda: 1
    fake.nvmlDeviceGetHandleByIndex = lambda i: f"handle{i}"
    fake.nvmlDeviceGetTotalEnergyConsumption = lambda handle: counter_mj[0]
    fake.nvmlDeviceGetName = lambda handle: b"NVIDIA RTX A5000"
    monkeypatch.setitem(sys.modules, "pynvml", fake)


def test_nvml_energy_counter_in_millijoules(monkeypatch, empty_root):
    counter = [10_000_000]
    _fake_pynvml(monkeypatch, counter)
    clock = Clock()
    monitor = EnergyMonitor("cuda:0", rapl_root=empty_root, clock=clock)
    assert monitor.method == "measured:nvml-energy-counter"

    def workload():  # 150 J per run on the GPU
        counter[0] += 150_000
        clock.advance(1.5)

    m = monitor.measure(workload, repeats=2)
    assert m.energy_by_repeat_j == (150.0, 150.0) and m.energy_j == 300.0
    assert m.device_model == "NVIDIA RTX A5000"
    assert any("CPU and DRAM energy are not included" in n for n in m.notes)


def test_nvml_and_rapl_are_summed(monkeypatch, rapl):
    root, fake = rapl
    counter = [0]
    _fake_pynvml(monkeypatch, counter)
    monitor = EnergyMonitor("cuda:0", rapl_root=root, clock=Clock())
    assert monitor.method == "measured:rapl[package,dram]+measured:nvml-energy-counter"
    m = monitor.measure(lambda: (fake.advance(package_uj=1_000_000, dram_uj=0), counter.__setitem__(0, 2_000)))
    assert dict(m.energy_by_domain_j) == {"package_0": 1.0, "dram_0": 0.0, "nvidia_gpu_0": 2.0}
    assert m.energy_j == 3.0


def test_codecarbon_rule_with_a_matched_cpu(empty_root):
    clock, cpu = Clock(), Clock(0.0)
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu,
                            cpu_model="Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz", logical_cpus=48)
    assert monitor.method == "estimated:codecarbon-cpu-process"

    def workload():  # 4 s of wall time, 3 s of process CPU time (all threads)
        clock.advance(4.0)
        cpu.advance(3.0)

    m = monitor.measure(workload, repeats=2)
    # CodeCarbon's table: "Intel Xeon Gold 5220R",150 W; E = 150 W x 3 s / 48 CPUs = 9.375 J per run
    assert m.energy_by_repeat_j == (9.375, 9.375)
    assert m.constants["matched_cpu"] == "Intel Xeon Gold 5220R"
    assert m.constants["tdp_w"] == 150.0
    assert m.constants["process_cpu_time_s"] == 6.0
    assert m.constants["mean_process_load"] == pytest.approx(6.0 / 8.0 / 48)
    assert not m.is_measured and m.idle_power_w is None


def test_codecarbon_rule_with_a_vague_vm_cpu(empty_root):
    clock, cpu = Clock(), Clock(0.0)
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, cpu_model="AMD EPYC",
                            logical_cpus=2)
    clock.advance(10.0)
    monitor.begin()
    clock.advance(10.0)
    cpu.advance(10.0)  # one thread busy for 10 s
    m = monitor.end()
    # "AMD EPYC" shares all its words with every EPYC row: no unique match, so 2 logical CPUs x 4 W = 8 W TDP;
    # the process used one of the two CPUs: 8 W x 10 s / 2 = 40 J
    assert m.energy_j == 40.0
    assert m.constants["matched_cpu"] is None and m.constants["tdp_w"] == 8.0
    assert m.constants["match_rule"].startswith("ambiguous")


def test_catalogue_estimate_with_core_share(empty_root):
    clock = Clock()
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, mode="estimated", hardware="EPYC 7763", utilisation=0.5,
                            cpu_cores_used=1, cpu_cores_total=64, clock=clock)
    assert monitor.method == "estimated:power x time"
    m = monitor.measure(lambda: clock.advance(4.0))
    assert m.energy_j == pytest.approx(280 * 0.5 / 64 * 4.0)  # 8.75 J
    assert m.constants["power_w"] == pytest.approx(2.1875)


def test_cpu_estimate_works_without_pyjoules(tmp_path):
    """pyJoules is optional: with it made unimportable, EnergyMonitor("cpu") still estimates."""
    code = (
        "import sys; sys.modules['pyJoules'] = None\n"
        "from greenaudio.measure import EnergyMonitor\n"
        f"m = EnergyMonitor('cpu', rapl_root={str(tmp_path)!r})\n"
        "print(m.measure(lambda: sum(range(1000))).method)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "estimated:codecarbon-cpu-process"


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "sometimes"}, "choose one of"),
    ({"mode": "measured"}, "no readable energy counter"),
    ({"hardware": "nope"}, "unknown hardware 'nope'; known hardware"),
    ({"hardware": "RTX A5000"}, "is a gpu"),
    ({"hardware": "EPYC 7763", "utilisation": 0}, "utilisation"),
    ({"hardware": "EPYC 7763", "cpu_cores_used": 3, "cpu_cores_total": 2}, "exceeds"),
])
def test_bad_settings_raise(empty_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnergyMonitor("cpu", rapl_root=empty_root, **kwargs)


def test_misuse_raises(empty_root):
    monitor = EnergyMonitor("cpu", rapl_root=empty_root)
    with pytest.raises(RuntimeError, match="begin"):
        monitor.lap()
    monitor.begin()
    with pytest.raises(RuntimeError, match="already open"):
        monitor.begin()
    with pytest.raises(ValueError, match="repeats"):
        EnergyMonitor("cpu", rapl_root=empty_root).measure(lambda: None, repeats=0)


@pytest.mark.parametrize("model, matched, rule", [
    ("Intel Xeon Gold 5220R", "Intel Xeon Gold 5220R", "exact"),
    ("intel xeon gold 5220r", "Intel Xeon Gold 5220R", "exact"),
    ("Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz", "Intel Xeon Gold 5220R", "after cleaning"),
    ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", "token-set"),
    ("AMD EPYC", None, "ambiguous"),
    ("Totally Unknown Chip", None, "no row"),
])
def test_codecarbon_matching_rules(model, matched, rule):
    match = measure.match_cpu_codecarbon(model)
    assert match.matched == matched and rule in match.rule


def test_carbontracker_rule_takes_the_first_row_containing_the_brand():
    table = {"AMD EPYC 7232P": 120.0, "AMD EPYC 7763": 280.0}
    m = measure.match_cpu_carbontracker("AMD EPYC", table)
    assert (m.matched, m.tdp_w) == ("AMD EPYC 7232P", 120.0)
    assert measure.match_cpu_carbontracker("AMD EPYC 7763 @ 2.45GHz", table).tdp_w == 280.0
    assert measure.match_cpu_carbontracker("Apple M2", table).matched is None


def test_three_tools_on_one_workload():
    table = measure.compare_energy_tools(
        {"cell": {"wall_s": 100.0, "cpu_time_s": 100.0, "cores": 1, "memory_gb": 2.0}},
        cpu_model="AMD EPYC", logical_cpus=2, carbontracker_table=lambda: {"AMD EPYC 7232P": 120.0},
    ).set_index("tool")
    kwh = table.energy_kwh
    ct = next(t for t in kwh.index if t.startswith("carbontracker"))
    cc = next(t for t in kwh.index if t.startswith("CodeCarbon"))
    ga = next(t for t in kwh.index if t.startswith("Green"))
    assert kwh[ct] == pytest.approx(60.0 * 100 * 1.58 / 3.6e6)  # 120 W x 50 %, whole package, PUE 1.58
    assert kwh[cc] == pytest.approx(8.0 * 100 / 2 / 3.6e6)  # 8 W TDP x 100 CPU-s / 2 CPUs, no PUE
    assert kwh[ga] == pytest.approx((1 * 4.0 * 1 + 2.0 * 0.3725) * 100 * 1.67 / 3.6e6)  # Eq. of Lannelongue 2021


def test_hardware_catalogue_holds_maxima_only():
    """carbontracker's 35.61 W is a typical power (mean TDP x 50 %): it is not a catalogue maximum."""
    from greenaudio import carbon

    assert "carbontracker GenericCPU" not in carbon.list_hardware()
    assert measure.power_models.energy_model_constant("carbontracker", "generic_cpu_typical_power_w") == 35.61
    with pytest.raises(ValueError, match="unknown energy-model constant"):
        measure.power_models.energy_model_constant("carbontracker", "max_power_w")


def test_cuda_device_without_any_counter_needs_a_catalogue_gpu(monkeypatch, empty_root):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    if torch.cuda.is_available():  # pragma: no cover - a GPU machine has a real name
        pytest.skip("only meaningful without a CUDA device")
    with pytest.raises(ValueError, match="not in the hardware catalogue"):
        EnergyMonitor("cuda:0", rapl_root=empty_root)
    m = EnergyMonitor("cuda:0", rapl_root=empty_root, hardware="RTX A5000", utilisation=0.5, clock=Clock())
    assert m.estimate.power_w == 115.0


def test_interleaved_windows_merge_to_the_sums_of_their_runs(rapl, empty_root):
    from greenaudio.measure import merge_energy_windows

    root, fake = rapl
    clock = Clock()
    monitor = EnergyMonitor("cpu", rapl_root=root, clock=clock)
    windows = []
    for joules, seconds in ((2.0, 1.0), (4.0, 3.0)):  # two windows of one workload, other work between them
        monitor.begin()
        fake.advance(package_uj=int(joules * 1e6), dram_uj=500_000)
        clock.advance(seconds)
        windows.append(monitor.end())
        fake.advance(package_uj=9_000_000, dram_uj=9_000_000)  # someone else's run: in no window
        clock.advance(5.0)
    m = merge_energy_windows(windows)
    assert m.energy_j == pytest.approx(2.5 + 4.5) and m.energy_by_repeat_j == pytest.approx((2.5, 4.5))
    assert m.duration_s == 4.0 and m.repeats == 2
    assert dict(m.energy_by_domain_j) == pytest.approx({"package_0": 6.0, "dram_0": 1.0})
    assert m.method == "measured:rapl[package,dram]"

    # CodeCarbon's estimate: process CPU time summed, mean load over the summed duration (8 W TDP, 2 logical CPUs)
    cpu = Clock(0.0)
    estimate = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, cpu_model="AMD EPYC",
                             logical_cpus=2)
    parts = []
    for seconds in (1.0, 3.0):
        estimate.begin()
        clock.advance(seconds)
        cpu.advance(seconds)
        parts.append(estimate.end())
    e = merge_energy_windows(parts)
    assert e.energy_j == pytest.approx(8.0 * 4.0 / 2)  # 16 J
    assert e.constants["process_cpu_time_s"] == 4.0
    assert e.constants["mean_process_load"] == pytest.approx(4.0 / 4.0 / 2)
    with pytest.raises(ValueError, match="different methods"):
        merge_energy_windows([m, e])
    with pytest.raises(ValueError, match="no energy window"):
        merge_energy_windows([])
