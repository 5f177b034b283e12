"""Energy without hardware: fake RAPL sysfs trees, a fake NVML module, fake wall and CPU clocks.

Every expected value is computed by hand from the fake counters (µJ for RAPL, mJ for NVML) and the power models'
published constants; no test depends on which sensors the machine running it has.
"""

import subprocess
import sys
import time
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
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, memory_gib=lambda: 1.5,
                            cpu_model="Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz", logical_cpus=48, sockets=1)
    assert monitor.method == "estimated:codecarbon-process-rule[cpu,ram]"

    def workload():  # 4 s of wall time, 3 s of CPU time (all threads of the process and its children)
        clock.advance(4.0)
        cpu.advance(3.0)

    m = monitor.measure(workload, repeats=2)
    # CodeCarbon's table: "Intel Xeon Gold 5220R",150 W; CPU: 150 W x 3 s / 48 CPUs = 9.375 J per run;
    # RAM: 1.5 GiB resident -> 1 slot x 5 W, below the x86 floor of 2 slots: 10 W x 4 s = 40 J per run
    assert m.energy_by_repeat_j == (49.375, 49.375)
    assert (m.cpu_energy_j, m.ram_energy_j, m.energy_j) == (18.75, 80.0, 98.75)
    assert dict(m.component_methods) == {"cpu": "estimated:codecarbon-cpu-process-rule",
                                         "ram": "estimated:codecarbon-ram-process-rule"}
    assert list(m.energy_by_domain_j.values()) == [18.75, 80.0]
    assert m.constants["matched_cpu"] == "Intel Xeon Gold 5220R"
    assert m.constants["tdp_w"] == 150.0 and m.constants["sockets"] == 1
    assert m.constants["process_cpu_time_s"] == 6.0
    assert m.constants["mean_process_load"] == pytest.approx(6.0 / 8.0 / 48)
    assert (m.constants["ram_power_w"], m.constants["ram_slots"], m.constants["process_memory_gib"]) == (10.0, 1, 1.5)
    assert (m.constants["cpu_energy_j"], m.constants["ram_energy_j"]) == (18.75, 80.0)
    assert not m.is_measured and m.idle_power_w is None


def test_codecarbon_rule_with_a_vague_vm_cpu(empty_root):
    clock, cpu = Clock(), Clock(0.0)
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, memory_gib=lambda: 0.3,
                            cpu_model="AMD EPYC", logical_cpus=2, sockets=1)
    clock.advance(10.0)
    monitor.begin()
    clock.advance(10.0)
    cpu.advance(10.0)  # one thread busy for 10 s
    m = monitor.end()
    # "AMD EPYC" shares all its words with every EPYC row: no unique match, so 2 logical CPUs x 4 W = 8 W TDP;
    # the process used one of the two CPUs: 8 W x 10 s / 2 = 40 J; RAM at its 10 W floor for 10 s: 100 J
    assert (m.cpu_energy_j, m.ram_energy_j, m.energy_j) == (40.0, 100.0, 140.0)
    assert m.constants["matched_cpu"] is None and m.constants["tdp_w"] == 8.0
    assert m.constants["match_rule"].startswith("ambiguous")


@pytest.mark.parametrize("model, per_socket", [("Intel(R) Xeon(R) Gold 5220R CPU @ 2.20GHz", 150.0),
                                               ("AMD EPYC", 2 * 4.0)])
def test_codecarbon_multiplies_the_tdp_by_the_sockets(empty_root, model, per_socket):
    """CodeCarbon's ResourceTracker.set_CPU_tracking: max_power = TDP x cpu_physical_count, the 4 W per logical
    CPU fallback included (it then counts the second socket's threads twice)."""
    clock, cpu = Clock(), Clock(0.0)
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, cpu_model=model,
                            logical_cpus=2, sockets=2, count_ram=False)
    m = monitor.measure(lambda: (clock.advance(2.0), cpu.advance(1.0)))
    assert m.constants["tdp_w"] == 2 * per_socket and m.constants["tdp_per_socket_w"] == per_socket
    assert m.energy_j == pytest.approx(2 * per_socket * 1.0 / 2)  # TDP x sockets x 1 CPU-s / 2 logical CPUs
    assert "x 2 sockets" in m.constants["tdp_rule"]


def test_codecarbon_cpu_component_alone(empty_root):
    clock, cpu = Clock(), Clock(0.0)
    monitor = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, cpu_model="AMD EPYC",
                            logical_cpus=2, sockets=1, count_ram=False, memory_gib=lambda: 1 / 0)  # never read
    assert monitor.method == "estimated:codecarbon-cpu-process-rule"
    m = monitor.measure(lambda: (clock.advance(3.0), cpu.advance(3.0)))
    assert (m.energy_j, m.cpu_energy_j, m.ram_energy_j) == (12.0, 12.0, None)
    assert dict(m.component_methods) == {"cpu": "estimated:codecarbon-cpu-process-rule"}
    assert "ram_energy_j" not in m.constants


@pytest.mark.parametrize("memory_gib, slots, x86_w, arm_w", [
    (0.0, 1, 10.0, 3.0), (2.0, 1, 10.0, 3.0), (2.5, 2, 10.0, 3.0), (16.0, 2, 10.0, 3.0),
    (16.5, 4, 20.0, 6.0), (64.0, 4, 20.0, 6.0), (100.0, 8, 4 * 5 + 4 * 4.5, 4 * 1.5 + 4 * 1.35),
    (130.0, 9, 20 + 18 + 4, 6 + 5.4 + 1.2),  # 130 / 8 = 16.25 GiB: 16-GiB slots, ceil(130 / 16) = 9
    (200.0, 13, 20 + 18 + 5 * 4, 6 + 5.4 + 5 * 1.2),  # ceil(200 / 16) = 13
    (1024.0, 8, 38.0, 6 + 5.4),  # 1024 / 8 = 128: eight 128-GiB slots
    (5000.0, 32, 20 + 18 + 8 * 4 + 16 * 3.5, 6 + 5.4 + 8 * 1.2 + 16 * 1.05),  # ceil(5000 / 128) = 40, capped at 32
])
def test_codecarbon_ram_rule_by_hand(memory_gib, slots, x86_w, arm_w):
    """Slots from the memory size, 5 W (ARM 1.5 W) per slot, the 5th-8th at 90 %, 9th-16th at 80 %, further at
    70 %, floor 10 W (ARM 3 W): CodeCarbon 3.3.2's external/ram.py, worked by hand."""
    rule = measure.power_models.codecarbon_ram_power_model
    x86, arm = rule(False), rule(True)
    assert x86.slots(memory_gib) == slots
    assert x86.power_w(memory_gib) == pytest.approx(x86_w) and arm.power_w(memory_gib) == pytest.approx(arm_w)


def test_process_tree_cpu_time_counts_children():
    """A child's CPU time is in the process tree's, while it runs and after it was waited for; not in
    time.process_time (what the estimate counted before)."""
    from greenaudio.measure.energy import process_tree_cpu_time_s

    burn = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
            "print('done', flush=True)\n")
    before, own = process_tree_cpu_time_s(), time.process_time()
    child = subprocess.Popen([sys.executable, "-c", burn + "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"  # burnt 0.6 CPU-s, now waits, alive
        alive = process_tree_cpu_time_s() - before
    finally:
        child.communicate("", timeout=60)
    waited = process_tree_cpu_time_s() - before
    assert alive >= 0.55 and waited >= alive - 0.02  # /proc ticks are 10 ms
    assert time.process_time() - own < 0.3


def test_process_tree_rss_counts_children():
    from greenaudio.measure.energy import process_tree_rss_gib

    base = process_tree_rss_gib()
    hold = "b = bytearray(300 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('ok', flush=True)\n"
    child = subprocess.Popen([sys.executable, "-c", hold + "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        grown = process_tree_rss_gib() - base
    finally:
        child.communicate("", timeout=60)
    assert grown >= 300 / 1024  # the child's 300 MiB, plus its interpreter


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
    assert out.stdout.strip() == "estimated:codecarbon-process-rule[cpu,ram]"


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
        cpu_model="AMD EPYC", logical_cpus=2, sockets=1, carbontracker_table=lambda: {"AMD EPYC 7232P": 120.0},
    ).set_index("tool")
    kwh = table.energy_kwh
    ct = next(t for t in kwh.index if t.startswith("carbontracker"))
    cc = next(t for t in kwh.index if t.startswith("CodeCarbon"))
    ga = next(t for t in kwh.index if t.startswith("Green"))
    assert kwh[ct] == pytest.approx(60.0 * 100 * 1.58 / 3.6e6)  # 120 W x 50 %, whole package, PUE 1.58
    # CPU: 8 W TDP x 100 CPU-s / 2 CPUs; RAM: 2 GiB -> 1 slot, floor 10 W x 100 s; no PUE
    assert kwh[cc] == pytest.approx((8.0 * 100 / 2 + 10.0 * 100) / 3.6e6)
    # Eq. of Lannelongue 2021 with its own 'Any' CPU (12 W per core) and 0.3725 W/GB, PUE 1.67
    assert kwh[ga] == pytest.approx((1 * 12.0 * 1 + 2.0 * 0.3725) * 100 * 1.67 / 3.6e6)


def test_three_tools_decomposed_by_hand():
    """The one-hour workload of a one-thread training on a 2-CPU 'AMD EPYC' VM: each tool's TDP, share and PUE, and
    the factors that make carbontracker's CPU energy 15 x 1.2 x 1.58 = 28.44 times CodeCarbon's."""
    table = measure.power_models.decompose_energy_tools(
        {"train": {"wall_s": 3600.0, "cpu_time_s": 3000.0, "cores": 1, "memory_gb": 0.0}},
        cpu_model="AMD EPYC", logical_cpus=2, sockets=1, carbontracker_table=lambda: {"AMD EPYC 7232P": 120.0},
    )
    rows = table.set_index(table.tool.str.split().str[0])
    assert rows.tdp_w.to_dict() == {"carbontracker": 120.0, "CodeCarbon": 8.0, "Green": 24.0}
    assert rows.share.to_dict() == pytest.approx({"carbontracker": 0.5, "CodeCarbon": 3000 / 7200, "Green": 0.5})
    assert rows.pue.to_dict() == {"carbontracker": 1.58, "CodeCarbon": 1.0, "Green": 1.67}
    assert rows.memory_power_w.to_dict() == {"carbontracker": 0.0, "CodeCarbon": 10.0, "Green": 0.0}
    assert (rows.hours == 1.0).all()
    # kWh: 120 W x 0.5 x 1 h x 1.58; 8 W x 5/12 x 1 h + 10 W x 1 h; 24 W x 0.5 x 1 h x 1.67
    assert rows.energy_kwh.to_dict() == pytest.approx({"carbontracker": 0.0948, "CodeCarbon": 10 / 3 / 1000 + 0.01,
                                                       "Green": 0.02004})
    assert rows.cpu_energy_kwh["CodeCarbon"] == pytest.approx(10 / 3 / 1000)
    ct = rows.loc["carbontracker"]
    assert (ct.tdp_factor, ct.share_factor, ct.pue_factor) == pytest.approx((15.0, 1.2, 1.58))
    assert ct.cpu_energy_factor == pytest.approx(28.44)
    assert ct.energy_factor == pytest.approx(0.0948 / (10 / 3 / 1000 + 0.01))
    assert (rows.loc["CodeCarbon", ["tdp_factor", "share_factor", "pue_factor", "energy_factor"]] == 1.0).all()
    for row in table.itertuples():  # every row: energy = (TDP x share + memory power) x hours x PUE
        assert row.energy_kwh == pytest.approx((row.tdp_w * row.share + row.memory_power_w) * row.hours * row.pue / 1e3)
    with pytest.raises(ValueError, match="reference"):
        measure.power_models.decompose_energy_tools({}, cpu_model="AMD EPYC", logical_cpus=2, sockets=1,
                                                    reference="pyJoules")


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

    # CodeCarbon's estimate: process CPU time summed, mean load over the summed duration (8 W TDP, 2 logical CPUs);
    # RAM: 17 GiB at the end of the first window (4 slots, 20 W), 1 GiB at the end of the second (the 10 W floor);
    # memory is read at every mark, the reading at a run's end prices that run
    cpu, memory = Clock(0.0), iter([0.5, 17.0, 0.5, 1.0])
    estimate = EnergyMonitor("cpu", rapl_root=empty_root, clock=clock, cpu_clock=cpu, cpu_model="AMD EPYC",
                             logical_cpus=2, sockets=1, memory_gib=lambda: next(memory))
    parts = []
    for seconds in (1.0, 3.0):
        estimate.begin()
        clock.advance(seconds)
        cpu.advance(seconds)
        parts.append(estimate.end())
    e = merge_energy_windows(parts)
    assert e.cpu_energy_j == pytest.approx(8.0 * 4.0 / 2)  # 16 J
    assert e.ram_energy_j == pytest.approx(20.0 * 1.0 + 10.0 * 3.0)  # 50 J
    assert e.energy_j == pytest.approx(66.0)
    assert e.constants["process_cpu_time_s"] == 4.0
    assert e.constants["mean_process_load"] == pytest.approx(4.0 / 4.0 / 2)
    assert (e.constants["cpu_energy_j"], e.constants["ram_energy_j"]) == pytest.approx((16.0, 50.0))
    assert e.constants["ram_power_w"] == pytest.approx(50.0 / 4.0) and e.constants["process_memory_gib"] == 17.0
    with pytest.raises(ValueError, match="different methods"):
        merge_energy_windows([m, e])
    with pytest.raises(ValueError, match="no energy window"):
        merge_energy_windows([])


def test_sockets_are_the_distinct_physical_ids(tmp_path):
    """Host facts: sockets from /proc/cpuinfo's "physical id" lines (a fake tree; lscpu is not asked for it)."""
    from greenaudio.host import read_cpu_sockets

    def tree(name, ids):
        (tmp_path / name / "proc").mkdir(parents=True)
        text = "".join(f"processor\t: {i}\nmodel name\t: AMD EPYC\n"
                       + (f"physical id\t: {p}\n" if p is not None else "") + "\n" for i, p in enumerate(ids))
        (tmp_path / name / "proc" / "cpuinfo").write_text(text)
        return tmp_path / name

    assert read_cpu_sockets(tree("two", [0, 0, 1, 1])) == 2
    assert read_cpu_sockets(tree("one", [0, 0])) == 1
    assert read_cpu_sockets(tree("arm", [None, None]), use_lscpu=False) == 1  # no physical id: CodeCarbon's default
    assert read_cpu_sockets(tmp_path / "missing") == 1
