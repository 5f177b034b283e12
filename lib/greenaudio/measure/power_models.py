"""Power models of the energy-tracking libraries, applied offline and with every constant named.

Used by: :class:`greenaudio.measure.EnergyMonitor` (the estimate path on a CPU without readable RAPL counters),
:func:`greenaudio.training.energy.codecarbon_cpu_training_energy` (training records), :func:`decompose_energy_tools`
and :func:`compare_energy_tools` (the cost chapter's three-tool table).

* **CodeCarbon 3.3.2** (the default power model here), as its offline tracker computes it on a machine without RAPL,
  with ``tracking_mode="process"`` and no PUE (its default ``pue=1.0``, ``emissions_tracker.py``). Rules read in the
  3.3.2 wheel and re-implemented here (no code of CodeCarbon is copied):

  - *CPU TDP* (``core/cpu.py``, ``TDP._get_matching_cpu``/``TDP._main``): the CPU model string is matched against its
    table (4,918 CPU models with their TDP in W, shipped here as ``resources/codecarbon_cpu_power.csv``, copied from
    the wheel's ``codecarbon/data/hardware/cpu_power.csv``) (1) exactly, case-insensitively, (2) the same after
    removing ``(R)``, ``" CPU @ ..."``, ``" CPU"`` and ``"@ x.xxGHz"``, (3) by token set: a row whose words contain
    all the model's words or vice versa, accepted only if exactly one row matches. Without a match the TDP is
    ``logical CPUs x 4 W`` (``DEFAULT_POWER_PER_CORE``).
  - *Sockets* (``core/resource_tracker.py``, ``ResourceTracker.set_CPU_tracking``): the power the load model starts
    from is ``TDP x cpu_physical_count``, the socket count read by ``core/util.py`` ``count_physical_cpus``
    (``lscpu``'s ``Socket(s):``, 1 if unreadable). The product is taken whatever the TDP's origin, so on two sockets
    the ``logical CPUs x 4 W`` fallback (which already counts every socket's threads) is doubled too.
  - *Process CPU load* (``external/hardware.py``, ``CPU._get_power_from_cpu_load`` with
    ``CPU._get_process_cpu_times``): between two samples the power is ``TDP x sockets x (CPU seconds / wall seconds)
    / logical CPUs``, where the CPU seconds are the user + system time of the process **and of its living
    descendants** (``psutil.Process.children(recursive=True)``); energy = power x the interval, so a window's CPU
    energy is ``TDP x sockets x (CPU seconds of the process tree) / logical CPUs``. (CodeCarbon only sees a child
    alive at a sample: a child that starts and ends between two samples, 15 s apart by default, is missed, and a
    child's time before its first sample is not charged. The estimate here also counts children already waited for,
    from ``os.times()``; both agree for a process whose children outlive the window, or that has none.)
  - *RAM* (``external/ram.py``, ``RAM._estimate_dimm_count``, ``RAM._calculate_ram_power`` and
    ``RAM.process_memory_GB``): in process mode the memory is the resident set (RSS) of the process and its children
    in GiB (``B_TO_GB = 1024**3``), turned into a number of memory slots (``<= 2 GiB``: 1; ``<= 16``: 2; ``<= 64``:
    4; ``<= 128``: 8; above, the total over the largest of 128/64/32/16/8/4 GiB that is at most an eighth of it,
    capped at 32), each drawing ``RAM_SLOT_POWER_X86 = 5 W`` (1.5 W on ARM), the 5th to 8th slot at 90 %, the 9th to
    16th at 80 %, the rest at 70 %, with a floor of two slots (10 W) on x86 and 3 W on ARM. Energy = that power x the
    wall time, **whatever the load**: 10 W for any process up to 16 GiB on x86.

* **carbontracker 2.4.7** without RAPL (``components/cpu/generic.py``): the CPU brand is looked up in *its* table
  (exact, then the first row containing the brand without its frequency), the power is ``TDP x 50 %`` for the whole
  package whatever the load, else 35.61 W (the table's mean TDP x 50 %); every energy is multiplied by its
  ``constants.PUE_2023`` = 1.58 (the Uptime Institute's 2023 Global Data Center Survey). No memory component.
* **Green Algorithms** (Lannelongue et al. 2021): ``E = t x (n_c P_c u_c + n_m P_m) x PUE``, with its own power per
  core for an unlisted CPU (its ``"Any"`` row, 12 W per core), memory 0.3725 W/GB and PUE 1.67 (the 2021 paper's
  defaults).

Method labels: one per rule (:data:`METHOD_CODECARBON_CPU`, :data:`METHOD_CODECARBON_RAM`, and their sum
:data:`METHOD_CODECARBON`). Constants with their sources: ``resources/energy_models.csv``
(:func:`energy_model_constant`).
"""

from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from .._resources import read_resource_csv

__all__ = ["METHOD_CODECARBON", "METHOD_CODECARBON_CPU", "METHOD_CODECARBON_RAM", "codecarbon_power_model_key",
           "CpuPowerModel", "RamPowerModel", "CodeCarbonEnergy", "codecarbon_cpu_power_model",
           "codecarbon_ram_power_model", "compare_energy_tools"]

CODECARBON_VERSION = "3.3.2"
_J_PER_KWH = 3.6e6

#: Method label of CodeCarbon's CPU rule (TDP x sockets x CPU time of the process tree / logical CPUs).
METHOD_CODECARBON_CPU = "estimated:codecarbon-cpu-process-rule"
#: Method label of CodeCarbon's RAM rule (power of the memory slots its RSS implies x wall time).
METHOD_CODECARBON_RAM = "estimated:codecarbon-ram-process-rule"
#: Method label of the two summed: what CodeCarbon's offline tracker reports as its energy on a CPU-only machine.
METHOD_CODECARBON = "estimated:codecarbon-process-rule[cpu,ram]"
def codecarbon_power_model_key(count_ram: bool = True) -> str:
    """The power model's part of a benchmark cell's energy key: ``"codecarbon-3.3.2-process[cpu,ram]"`` (CPU and
    RAM rules), or ``"codecarbon-3.3.2-cpu-process"`` (the CPU rule alone, the key of cells stored before RAM was
    counted: for a process without children its numbers are the same)."""
    return f"codecarbon-{CODECARBON_VERSION}-" + ("process[cpu,ram]" if count_ram else "cpu-process")


def energy_model_constant(tool: str, constant: str) -> float:
    """A constant of ``resources/energy_models.csv`` (e.g. ``("codecarbon", "DEFAULT_POWER_PER_CORE")`` -> 4.0)."""
    table = read_resource_csv("energy_models.csv")
    row = table[(table.tool == tool) & (table.constant == constant)]
    if row.empty:
        valid = sorted(f"{t}:{c}" for t, c in zip(table.tool, table.constant))
        raise ValueError(f"unknown energy-model constant {tool}:{constant}; valid: {valid}")
    return float(row.value.iat[0])


@lru_cache(maxsize=1)
def _codecarbon_rows() -> tuple[tuple[str, float | None], ...]:
    table = read_resource_csv("codecarbon_cpu_power.csv")
    return tuple((str(n), None if v != v else float(v)) for n, v in zip(table.name, table.tdp_w))


def codecarbon_cpu_table() -> dict[str, float | None]:
    """CodeCarbon's CPU table: model name -> TDP in W (``None`` where it prints a range such as ``27.29.5``)."""
    return dict(_codecarbon_rows())


@dataclass(frozen=True)
class CpuMatch:
    """The outcome of matching a CPU model string against a CPU power table.

    Attributes:
        query: the model string that was matched (e.g. ``"AMD EPYC"``).
        matched: the table's row name, ``None`` if no (unique) match.
        tdp_w: that row's TDP (in W), ``None`` if no match.
        rule: which matching rule decided, in words.
        candidates: rows that matched at the deciding step (more than 1 at the token-set step means ambiguous).
    """

    query: str
    matched: str | None
    tdp_w: float | None
    rule: str
    candidates: int = 0


def _tokens(text: str) -> frozenset[str]:
    """rapidfuzz's ``default_process``: lower case, every non-alphanumeric character a separator."""
    return frozenset(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def match_cpu_codecarbon(model: str, table: Mapping[str, float | None] | None = None) -> CpuMatch:
    """Match a CPU model string to CodeCarbon's table with CodeCarbon 3.3.2's three rules (module docstring).

    Args:
        model: the CPU model string (``/proc/cpuinfo`` "model name").
        table: name -> TDP (in W); default :func:`codecarbon_cpu_table`.
    """
    if not isinstance(model, str):
        raise ValueError(f"model must be a string, got {model!r}")
    table = codecarbon_cpu_table() if table is None else dict(table)
    lower = {name.lower(): name for name in table}
    if model.lower() in lower:
        name = lower[model.lower()]
        return CpuMatch(model, name, table[name], "exact name (case-insensitive)", 1)
    cleaned = model.replace("(R)", "")
    at = cleaned.find(" CPU @ ")
    if at > 0:
        cleaned = cleaned[:at]
    cleaned = re.sub(r" @\s*\d+\.\d+GHz", "", cleaned.replace(" CPU", ""))
    if cleaned.lower() in lower:
        name = lower[cleaned.lower()]
        return CpuMatch(model, name, table[name], f"exact name after cleaning to {cleaned!r}", 1)
    query = _tokens(cleaned)
    hits = [name for name in table if query and ((t := _tokens(name)) <= query or query <= t) and t]
    if len(hits) == 1:
        return CpuMatch(model, hits[0], table[hits[0]], "unique token-set match", 1)
    if hits:
        return CpuMatch(model, None, None, f"ambiguous: {len(hits)} rows share all the words of {cleaned!r}",
                        len(hits))
    return CpuMatch(model, None, None, "no row matches", 0)


def match_cpu_carbontracker(model: str, table: Mapping[str, float]) -> CpuMatch:
    """carbontracker 2.4.7's rule: the exact brand, else the first row containing the brand before any ``@``."""
    if model in table:
        return CpuMatch(model, model, float(table[model]), "exact brand", 1)
    stem = model.split("@")[0].strip()
    hits = [name for name in table if stem in name]
    if hits:
        return CpuMatch(model, hits[0], float(table[hits[0]]), f"first row containing {stem!r}", len(hits))
    return CpuMatch(model, None, None, "no row matches", 0)


@dataclass(frozen=True)
class CpuPowerModel:
    """CodeCarbon's CPU process rule for one machine: energy = ``tdp_w x CPU seconds / logical_cpus``.

    Attributes:
        cpu_model: the machine's CPU model string.
        match: how it was matched to CodeCarbon's table.
        tdp_w: the TDP the load is applied to (in W), sockets included: ``tdp_per_socket_w x sockets``, as
            CodeCarbon's ``ResourceTracker.set_CPU_tracking`` multiplies it.
        tdp_rule: where ``tdp_w`` comes from, in words.
        logical_cpus: logical CPUs of the machine (the denominator of the process's load).
        sockets: CPU sockets (CodeCarbon's ``cpu_physical_count``).
        tdp_per_socket_w: the matched row's TDP, else ``logical_cpus x 4 W`` (``DEFAULT_POWER_PER_CORE``).
    """

    cpu_model: str
    match: CpuMatch
    tdp_w: float
    tdp_rule: str
    logical_cpus: int
    sockets: int = 1
    tdp_per_socket_w: float | None = None

    name = f"CodeCarbon {CODECARBON_VERSION} CPU process rule"
    formula = "E = TDP x sockets x CPU time of the process and its children / logical CPUs"

    def energy_j(self, cpu_time_s: float) -> float:
        """Energy (in J) charged for ``cpu_time_s`` seconds of CPU time (all threads of the process and children)."""
        from greenaudio.validation import check_non_negative_number

        return self.tdp_w * check_non_negative_number("cpu_time_s", cpu_time_s) / self.logical_cpus

    def to_dict(self) -> dict[str, Any]:
        per_socket = self.tdp_w / self.sockets if self.tdp_per_socket_w is None else self.tdp_per_socket_w
        return {"power_model": self.name, "formula": self.formula, "cpu_model": self.cpu_model,
                "matched_cpu": self.match.matched, "match_rule": self.match.rule, "tdp_w": self.tdp_w,
                "tdp_rule": self.tdp_rule, "logical_cpus": self.logical_cpus, "sockets": self.sockets,
                "tdp_per_socket_w": per_socket,
                "source": f"CodeCarbon {CODECARBON_VERSION} (resources/codecarbon_cpu_power.csv, energy_models.csv)"}


def codecarbon_cpu_power_model(cpu_model: str | None = None, logical_cpus: int | None = None,
                               sockets: int | None = None) -> CpuPowerModel:
    """CodeCarbon's CPU power model of this machine (or of ``cpu_model`` with ``logical_cpus`` and ``sockets``).

    Args:
        cpu_model: CPU model string (default: :func:`greenaudio.host.read_cpu_model`).
        logical_cpus: logical CPUs (default :func:`os.cpu_count`).
        sockets: CPU sockets (default :func:`greenaudio.host.read_cpu_sockets`); the TDP is
            multiplied by it, as CodeCarbon does.
    """
    from greenaudio.validation import check_positive_int

    from ..host import read_cpu_model, read_cpu_sockets

    cpu_model = read_cpu_model() if cpu_model is None else cpu_model
    logical_cpus = check_positive_int("logical_cpus", (os.cpu_count() or 1) if logical_cpus is None else logical_cpus)
    sockets = check_positive_int("sockets", read_cpu_sockets() if sockets is None else sockets)
    match = match_cpu_codecarbon(cpu_model)
    if match.tdp_w is not None:
        per_socket, rule = float(match.tdp_w), f"TDP of {match.matched}"
    else:
        per_cpu = energy_model_constant("codecarbon", "DEFAULT_POWER_PER_CORE")
        per_socket, rule = logical_cpus * per_cpu, f"{match.rule}; {logical_cpus} logical CPUs x {per_cpu:g} W"
    if sockets > 1:
        rule += f"; x {sockets} sockets"
    return CpuPowerModel(cpu_model, match, per_socket * sockets, rule, logical_cpus, sockets, per_socket)


#: CodeCarbon's RAM power per memory slot by rank of the slot (``external/ram.py``, ``RAM._calculate_ram_power``):
#: (slots, fraction of a slot's power) for the 1st-4th, 5th-8th, 9th-16th and every further slot.
_RAM_SLOT_TIERS = ((4, 1.0), (4, 0.9), (8, 0.8), (None, 0.7))
#: Memory sizes (GiB, inclusive upper bounds) -> slots (``RAM._estimate_dimm_count``), up to 128 GiB.
_RAM_SLOT_COUNTS = ((2.0, 1), (16.0, 2), (64.0, 4), (128.0, 8))
_RAM_LARGE_SLOT_SIZES_GIB = (128, 64, 32, 16, 8, 4)
_RAM_MAX_SLOTS = 32


@dataclass(frozen=True)
class RamPowerModel:
    """CodeCarbon's RAM rule: a power from the memory size (its number of memory slots), charged for the wall time.

    Attributes:
        arm: ARM CPU (lower-power memory: 1.5 W per slot, at least 3 W) rather than x86 (5 W per slot, at least
            two slots).
        slot_power_w: power of one memory slot (in W).
        minimum_power_w: the floor of the RAM power (in W).
    """

    arm: bool
    slot_power_w: float
    minimum_power_w: float

    name = f"CodeCarbon {CODECARBON_VERSION} RAM rule"
    formula = "E = power of the memory slots the RSS of the process and its children implies x wall time"

    @staticmethod
    def slots(memory_gib: float) -> int:
        """Memory slots CodeCarbon assumes for ``memory_gib`` GiB (``RAM._estimate_dimm_count``)."""
        from greenaudio.validation import check_non_negative_number

        memory_gib = check_non_negative_number("memory_gib", memory_gib)
        for upper, count in _RAM_SLOT_COUNTS:
            if memory_gib <= upper:
                return count
        size = next(s for s in _RAM_LARGE_SLOT_SIZES_GIB if s <= memory_gib / 8)  # > 128 GiB: at least 16 GiB
        return min(math.ceil(memory_gib / size), _RAM_MAX_SLOTS)

    def power_w(self, memory_gib: float) -> float:
        """RAM power (in W) CodeCarbon charges for ``memory_gib`` GiB of resident memory."""
        left, power = self.slots(memory_gib), 0.0
        for count, fraction in _RAM_SLOT_TIERS:
            used = left if count is None else min(left, count)
            power += used * self.slot_power_w * fraction
            left -= used
        return max(power, self.minimum_power_w)

    def energy_j(self, memory_gib: float, wall_s: float) -> float:
        """Energy (in J) charged for ``wall_s`` seconds at ``memory_gib`` GiB of resident memory."""
        from greenaudio.validation import check_non_negative_number

        return self.power_w(memory_gib) * check_non_negative_number("wall_s", wall_s)

    def to_dict(self) -> dict[str, Any]:
        return {"ram_power_model": self.name, "ram_formula": self.formula, "ram_arm": self.arm,
                "ram_slot_power_w": self.slot_power_w, "ram_minimum_power_w": self.minimum_power_w,
                "ram_source": f"CodeCarbon {CODECARBON_VERSION} external/ram.py (energy_models.csv)"}


def codecarbon_ram_power_model(arm: bool | None = None) -> RamPowerModel:
    """CodeCarbon's RAM rule for this machine's architecture (``arm=None``: read from :func:`platform.machine`, as
    CodeCarbon's ``RAM._detect_arm_cpu`` does)."""
    if arm is None:
        arm = any(a in platform.machine().lower() for a in ("arm", "aarch"))
    if arm:
        return RamPowerModel(True, energy_model_constant("codecarbon", "ram_slot_power_arm_w"),
                             energy_model_constant("codecarbon", "ram_minimum_power_arm_w"))
    slot = energy_model_constant("codecarbon", "RAM_SLOT_POWER_X86")
    return RamPowerModel(False, slot, slot * energy_model_constant("codecarbon", "ram_minimum_slots_x86"))


@dataclass(frozen=True)
class CodeCarbonEnergy:
    """CodeCarbon's estimate of a window, by component: CPU, RAM and their total.

    Attributes:
        cpu_energy_j: the CPU rule's energy (in J), labelled :data:`METHOD_CODECARBON_CPU`.
        ram_energy_j: the RAM rule's energy (in J), labelled :data:`METHOD_CODECARBON_RAM`; ``None`` when RAM is
            not counted.
        cpu_time_s: CPU time of the process and its children in the window (in s).
        wall_s: wall time of the window (in s).
        memory_gib: resident memory the RAM rule was applied to (in GiB; the largest sampled), ``None`` if not counted.
        cpu: the CPU rule's constants.
        ram: the RAM rule's constants, ``None`` if RAM is not counted.
    """

    cpu_energy_j: float
    ram_energy_j: float | None
    cpu_time_s: float
    wall_s: float
    memory_gib: float | None
    cpu: CpuPowerModel
    ram: RamPowerModel | None = None

    @property
    def energy_j(self) -> float:
        """The total (in J): CPU + RAM, what CodeCarbon's tracker reports as ``energy_consumed`` without a GPU."""
        return self.cpu_energy_j + (self.ram_energy_j or 0.0)

    @property
    def method(self) -> str:
        """Label of the total: :data:`METHOD_CODECARBON`, or :data:`METHOD_CODECARBON_CPU` when RAM is not counted."""
        return METHOD_CODECARBON if self.ram is not None else METHOD_CODECARBON_CPU

    @property
    def component_methods(self) -> dict[str, str]:
        """Label of each component: ``{"cpu": ..., "ram": ...}``."""
        return {"cpu": METHOD_CODECARBON_CPU} | ({"ram": METHOD_CODECARBON_RAM} if self.ram is not None else {})

    def constants(self) -> dict[str, Any]:
        """Every constant and input of the estimate, with the components (for a record's ``energy_constants``)."""
        out = self.cpu.to_dict() | {"process_cpu_time_s": self.cpu_time_s, "cpu_energy_j": self.cpu_energy_j,
                                    "component_methods": self.component_methods}
        if self.ram is not None:
            out |= self.ram.to_dict() | {
                "power_model": f"CodeCarbon {CODECARBON_VERSION} process rule (CPU + RAM)",
                "formula": f"{self.cpu.formula} + RAM power x wall time",
                "process_memory_gib": self.memory_gib, "ram_slots": self.ram.slots(self.memory_gib or 0.0),
                "ram_power_w": (self.ram_energy_j / self.wall_s if self.wall_s > 0
                                else self.ram.power_w(self.memory_gib or 0.0)),
                "ram_energy_j": self.ram_energy_j}
        return out

    def to_dict(self) -> dict[str, Any]:
        """``energy_j`` (total), ``energy_method``, ``cpu_energy_j``, ``ram_energy_j``, ``component_methods`` and
        ``energy_constants``: the fields of a record."""
        return {"energy_j": self.energy_j, "energy_method": self.method, "cpu_energy_j": self.cpu_energy_j,
                "ram_energy_j": self.ram_energy_j, "component_methods": self.component_methods,
                "energy_constants": self.constants()}


def _carbontracker_table() -> dict[str, float] | None:
    """carbontracker's own CPU table, if carbontracker is installed (its TDP ranges read as their midpoint)."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("carbontracker")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "cpu_power.csv")
    table = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            parts = row["TDP"].split(".")
            try:
                table[row["Name"]] = ((float(f"{parts[0]}.{parts[1]}") + float(f"{parts[0]}.{parts[2]}")) / 2
                                      if len(parts) == 3 else float(row["TDP"]))
            except (ValueError, IndexError):
                continue
    return table


#: The tools of :func:`decompose_energy_tools`, in row order (the reference of the factors is matched by prefix).
TOOL_NAMES = ("carbontracker 2.4.7 (prediction rule, no RAPL)",
              f"CodeCarbon {CODECARBON_VERSION} (offline tracker, process mode: CPU + RAM)",
              "Green Algorithms (Lannelongue et al. 2021)")


def _carbontracker_tdp(cpu_model: str, table: Mapping[str, float] | None) -> tuple[float, str]:
    """The TDP (in W) carbontracker 2.4.7 charges without RAPL, and where it comes from."""
    if table is None:
        util = energy_model_constant("carbontracker", "cpu_utilisation")
        return (energy_model_constant("carbontracker", "generic_cpu_typical_power_w") / util,
                "carbontracker not installed: GenericCPU, the mean TDP of its table (35.61 W / 50 %)")
    match = match_cpu_carbontracker(cpu_model, table)
    if match.tdp_w is None:
        return sum(table.values()) / len(table), "GenericCPU: no row matches, the mean TDP of its table"
    return match.tdp_w, f"{match.matched} ({match.rule} in its table)"


def _tool_rows(name: str, workload: Mapping[str, float], cc, ct_tdp: float, ct_source: str) -> list[dict]:
    """The three tools' rows of :func:`decompose_energy_tools` for one workload (factors not yet computed)."""
    n = cc.logical_cpus
    ram = codecarbon_ram_power_model()
    ct_util = energy_model_constant("carbontracker", "cpu_utilisation")
    ga_core_w = energy_model_constant("green-algorithms", "any_cpu_power_w_per_core")
    ga_mem = energy_model_constant("green-algorithms", "memory_power_w_per_gb")
    ga_u = energy_model_constant("green-algorithms", "core_usage_factor")
    pue = {"carbontracker": (energy_model_constant("carbontracker", "pue"),
                             "carbontracker constants.PUE_2023 (Uptime Institute survey 2023)"),
           "CodeCarbon": (energy_model_constant("codecarbon", "pue"), "CodeCarbon's default pue=1.0 (none applied)"),
           "Green": (energy_model_constant("green-algorithms", "pue"),
                     "Green Algorithms 2021 default (Uptime Institute survey 2019)")}
    wall, cpu, cores, mem = (float(workload[k]) for k in ("wall_s", "cpu_time_s", "cores", "memory_gb"))
    base = {"workload": name, "wall_s": wall, "hours": wall / 3600.0, "cpu_time_s": cpu, "cores": cores,
            "memory_gb": mem}
    slots = ram.slots(mem)
    unknown = " (memory not recorded: the same for any RSS up to 16 GiB)" if mem == 0 and not ram.arm else ""
    per_tool = [
        (TOOL_NAMES[0], ct_tdp, ct_source, ct_util, f"{ct_util:g} of the whole package, whatever the load",
         0.0, "no memory component", f"E = TDP x {ct_util:g} (whole package) x wall time x PUE"),
        (TOOL_NAMES[1], cc.tdp_w, cc.tdp_rule, cpu / (wall * n) if wall > 0 else float("nan"),
         f"CPU time / (wall time x {n} logical CPUs)", ram.power_w(mem),
         f"RAM rule: {mem:.3g} GiB -> {slots} slot(s) x {ram.slot_power_w:g} W, floor {ram.minimum_power_w:g} W"
         f"{unknown}", f"{cc.formula} + RAM power x wall time (no PUE)"),
        (TOOL_NAMES[2], ga_core_w * n, f"its 'Any' CPU: {ga_core_w:g} W per core x {n} logical CPUs",
         cores * ga_u / n, f"{cores:g} core(s) x u_c {ga_u:g} / {n} logical CPUs", mem * ga_mem,
         f"{mem:.3g} GB x {ga_mem:g} W/GB", f"E = t x (n_c P_c u_c + n_m P_m) x PUE, P_c = {ga_core_w:g} W"),
    ]
    rows = []
    for tool, tdp, source, share, share_rule, mem_w, mem_rule, rule in per_tool:
        factor, pue_source = pue[tool.split()[0]]
        cpu_w = tdp * share
        rows.append({**base, "tool": tool, "tdp_w": tdp, "tdp_source": source, "share": share,
                     "share_rule": share_rule, "cpu_power_w": cpu_w, "memory_power_w": mem_w,
                     "memory_rule": mem_rule, "power_w": cpu_w + mem_w, "pue": factor, "pue_source": pue_source,
                     "cpu_energy_kwh": cpu_w * wall * factor / _J_PER_KWH,
                     "memory_energy_kwh": mem_w * wall * factor / _J_PER_KWH,
                     "energy_kwh": (cpu_w + mem_w) * wall * factor / _J_PER_KWH, "rule": rule})
    return rows


def decompose_energy_tools(
    workloads: Mapping[str, Mapping[str, float]],
    *,
    cpu_model: str | None = None,
    logical_cpus: int | None = None,
    sockets: int | None = None,
    reference: str = "CodeCarbon",
    carbontracker_table: Callable[[], Mapping[str, float] | None] = _carbontracker_table,
):
    """Where three tools' estimates of the same workloads differ: each estimate decomposed into the TDP it chose, the
    share of that TDP it charged, the memory power it adds, its PUE and the hours, then each factor relative to a
    reference tool.

    For every tool, ``cpu_energy_kwh = tdp_w x share x hours x pue / 1000`` and ``memory_energy_kwh =
    memory_power_w x hours x pue / 1000``:

    * carbontracker 2.4.7 without RAPL: ``tdp_w`` is the first row of *its* table containing the CPU string (else
      its table's mean TDP), ``share`` its constant 50 % of the whole package, no memory, PUE 1.58;
    * CodeCarbon 3.3.2 (offline tracker, process mode): ``tdp_w`` its table's TDP x sockets (else logical CPUs x
      4 W x sockets), ``share = CPU seconds / (wall seconds x logical CPUs)``, memory power from its RAM rule on
      ``memory_gb`` (read as GiB, its unit), no PUE;
    * Green Algorithms (Lannelongue et al. 2021): ``tdp_w`` its ``"Any"`` CPU's 12 W per core x logical CPUs,
      ``share = cores x u_c / logical CPUs``, memory ``memory_gb x 0.3725 W/GB``, PUE 1.67.

    Args:
        workloads: name -> ``{"wall_s": ..., "cpu_time_s": ..., "cores": ..., "memory_gb": ...}`` (wall time and CPU
            time of the process and its children in s, cores used, resident memory in GB; 0 when not recorded).
        cpu_model, logical_cpus, sockets: the machine (default: this one).
        reference: the tool the factors are relative to (a prefix of its name: ``"CodeCarbon"``, ``"carbontracker"``
            or ``"Green"``).
        carbontracker_table: returns carbontracker's CPU table, or ``None`` if carbontracker is not installed.

    Returns:
        a DataFrame, one row per (workload, tool): ``workload``, ``tool``, ``wall_s``, ``hours``, ``cpu_time_s``,
        ``cores``, ``memory_gb``; ``tdp_w`` (W) and ``tdp_source``; ``share`` (fraction of ``tdp_w`` charged over the
        wall time) and ``share_rule``; ``cpu_power_w`` (``tdp_w x share``), ``memory_power_w`` and ``memory_rule``,
        ``power_w`` (their sum, before PUE); ``pue`` and ``pue_source``; ``cpu_energy_kwh``, ``memory_energy_kwh``,
        ``energy_kwh`` (their sum, PUE included); ``rule`` (the formula); and, relative to the reference tool on the
        same workload, ``tdp_factor``, ``share_factor``, ``pue_factor``, ``cpu_energy_factor`` (their product) and
        ``energy_factor`` (the totals' ratio, memory included).
    """
    import pandas as pd

    from greenaudio.validation import check_choice

    reference = check_choice("reference", reference, ("CodeCarbon", "carbontracker", "Green"))
    cc = codecarbon_cpu_power_model(cpu_model, logical_cpus, sockets)
    ct_tdp, ct_source = _carbontracker_tdp(cc.cpu_model, carbontracker_table())
    rows = [row for name, w in workloads.items() for row in _tool_rows(name, w, cc, ct_tdp, ct_source)]
    table = pd.DataFrame(rows)
    ref = table[table.tool.str.startswith(reference)].set_index("workload")
    for column, of in (("tdp_factor", "tdp_w"), ("share_factor", "share"), ("pue_factor", "pue"),
                       ("cpu_energy_factor", "cpu_energy_kwh"), ("energy_factor", "energy_kwh")):
        table[column] = table[of].to_numpy() / table.workload.map(ref[of]).to_numpy()
    return table


def compare_energy_tools(
    workloads: Mapping[str, Mapping[str, float]],
    *,
    cpu_model: str | None = None,
    logical_cpus: int | None = None,
    sockets: int | None = None,
    carbontracker_table: Callable[[], Mapping[str, float] | None] = _carbontracker_table,
):
    """The energy (in kWh) three tools' rules give the same workloads, with the constants each used: the table of
    :func:`decompose_energy_tools` (CodeCarbon's row counts its CPU *and* RAM rules, as its tracker does).

    Returns:
        a DataFrame, one row per (workload, tool), with (among the columns of :func:`decompose_energy_tools`)
        ``wall_s``, ``cpu_time_s``, ``cores``, ``memory_gb``, ``power_w`` (mean power charged, in W, before PUE),
        ``pue``, ``energy_kwh`` (PUE included), ``rule``, ``tdp_w`` and ``tdp_source``.
    """
    return decompose_energy_tools(workloads, cpu_model=cpu_model, logical_cpus=logical_cpus, sockets=sockets,
                                  carbontracker_table=carbontracker_table)
