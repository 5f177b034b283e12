"""CPU power models of the energy-tracking libraries, applied offline and with every constant named.

Used by: :class:`greenaudio.measure.EnergyMonitor` (the estimate path on a CPU without readable RAPL counters),
:func:`compare_energy_tools` (the cost chapter's three-tool table).

* **CodeCarbon 3.3.2** (the default power model here). Its CPU power table (4,918 CPU models with their TDP in W) ships
  as ``resources/codecarbon_cpu_power.csv``, copied from the wheel's ``codecarbon/data/hardware/cpu_power.csv``.
  Its documented rules, re-implemented: the CPU model string is matched (1) exactly, case-insensitively, (2) the
  same after removing ``(R)``, ``" CPU @ ..."``, ``" CPU"`` and ``"@ x.xxGHz"``, (3) by token set: a row whose words
  contain all the model's words or vice versa, accepted only if exactly one row matches. Without a match the TDP is
  ``logical CPUs x 4 W`` (``DEFAULT_POWER_PER_CORE``). With ``tracking_mode="process"`` the power is
  ``TDP x (process CPU time / wall time) / logical CPUs``: the process is charged its share of the cores, measured
  from its CPU time, so the energy of a window is ``TDP x process CPU seconds / logical CPUs``.
* **carbontracker 2.4.7** without RAPL: the CPU brand is looked up in *its* table (exact, then the first row
  containing the brand without its frequency), the power is ``TDP x 50 %`` for the whole package whatever the load,
  else 35.61 W (the table's mean TDP x 50 %); every energy is multiplied by a PUE of 1.58.
* **Green Algorithms** (Lannelongue et al. 2021): ``E = t x (n_c P_c u_c + n_m P_m) x PUE``.

Constants with their sources: ``resources/energy_models.csv`` (:func:`energy_model_constant`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from .._resources import read_resource_csv

__all__ = [
    "CODECARBON_VERSION",
    "CpuMatch",
    "CpuPowerModel",
    "codecarbon_cpu_table",
    "match_cpu_codecarbon",
    "match_cpu_carbontracker",
    "codecarbon_cpu_power_model",
    "energy_model_constant",
    "compare_energy_tools",
]

CODECARBON_VERSION = "3.3.2"
_J_PER_KWH = 3.6e6


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
    """CodeCarbon's process rule for one machine: energy = ``tdp_w x process CPU seconds / logical_cpus``.

    Attributes:
        cpu_model: the machine's CPU model string.
        match: how it was matched to CodeCarbon's table.
        tdp_w: the TDP used (in W): the matched row's, else ``logical_cpus x 4 W``.
        tdp_rule: where ``tdp_w`` comes from, in words.
        logical_cpus: logical CPUs of the machine (the denominator of the process's load).
    """

    cpu_model: str
    match: CpuMatch
    tdp_w: float
    tdp_rule: str
    logical_cpus: int

    name = f"CodeCarbon {CODECARBON_VERSION} CPU process rule"
    formula = "E = TDP x process CPU time / logical CPUs"

    def energy_j(self, cpu_time_s: float) -> float:
        """Energy (in J) charged for ``cpu_time_s`` seconds of the process's CPU time (all its threads)."""
        from greenaudio.validation import check_non_negative_number

        return self.tdp_w * check_non_negative_number("cpu_time_s", cpu_time_s) / self.logical_cpus

    def describe(self) -> str:
        """Short text for axis labels: ``"CodeCarbon 3.3.2 CPU process rule, TDP 8 W (..), 2 logical CPUs"``."""
        return f"{self.name}: TDP {self.tdp_w:g} W ({self.tdp_rule}) x CPU time / {self.logical_cpus} CPUs"

    def to_dict(self) -> dict[str, Any]:
        return {"power_model": self.name, "formula": self.formula, "cpu_model": self.cpu_model,
                "matched_cpu": self.match.matched, "match_rule": self.match.rule, "tdp_w": self.tdp_w,
                "tdp_rule": self.tdp_rule, "logical_cpus": self.logical_cpus,
                "source": f"CodeCarbon {CODECARBON_VERSION} (resources/codecarbon_cpu_power.csv, energy_models.csv)"}


def codecarbon_cpu_power_model(cpu_model: str | None = None, logical_cpus: int | None = None) -> CpuPowerModel:
    """CodeCarbon's power model of this machine's CPU (or of ``cpu_model`` with ``logical_cpus``)."""
    from .environment import read_cpu_model

    cpu_model = read_cpu_model() if cpu_model is None else cpu_model
    from greenaudio.validation import check_positive_int

    logical_cpus = check_positive_int("logical_cpus", (os.cpu_count() or 1) if logical_cpus is None else logical_cpus)
    match = match_cpu_codecarbon(cpu_model)
    if match.tdp_w is not None:
        return CpuPowerModel(cpu_model, match, match.tdp_w, f"TDP of {match.matched}", logical_cpus)
    per_cpu = energy_model_constant("codecarbon", "DEFAULT_POWER_PER_CORE")
    rule = f"{match.rule}; {logical_cpus} logical CPUs x {per_cpu:g} W"
    return CpuPowerModel(cpu_model, match, logical_cpus * per_cpu, rule, logical_cpus)


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


def compare_energy_tools(
    workloads: Mapping[str, Mapping[str, float]],
    *,
    cpu_model: str | None = None,
    logical_cpus: int | None = None,
    carbontracker_table: Callable[[], Mapping[str, float] | None] = _carbontracker_table,
):
    """The energy (in kWh) three tools' CPU rules give the same workloads, with the constants each used.

    Args:
        workloads: name -> ``{"wall_s": ..., "cpu_time_s": ..., "cores": ..., "memory_gb": ...}`` (wall time and
            process CPU time in s, cores used, memory in GB).
        cpu_model, logical_cpus: the machine (default: this one).
        carbontracker_table: returns carbontracker's CPU table, or ``None`` if carbontracker is not installed.

    Returns:
        a DataFrame, one row per (workload, tool): ``wall_s``, ``cpu_time_s``, ``power_w`` (mean power charged, in
        W), ``pue``, ``energy_kwh`` (PUE included), ``rule``.
    """
    import pandas as pd

    model = codecarbon_cpu_power_model(cpu_model, logical_cpus)
    ct = carbontracker_table()
    ct_util = energy_model_constant("carbontracker", "cpu_utilisation")
    ct_pue = energy_model_constant("carbontracker", "pue")
    if ct is not None:
        ct_match = match_cpu_carbontracker(model.cpu_model, ct)
        ct_power = (ct_match.tdp_w if ct_match.tdp_w is not None else sum(ct.values()) / len(ct)) * ct_util
        ct_rule = (f"{ct_match.matched} TDP {ct_match.tdp_w:g} W ({ct_match.rule}) x {ct_util:g}"
                   if ct_match.tdp_w is not None else f"no match: mean TDP of its table x {ct_util:g}")
    else:
        ct_power = energy_model_constant("carbontracker", "generic_cpu_typical_power_w")
        ct_rule = "carbontracker not installed: its documented GenericCPU constant"
    ga_pue = energy_model_constant("green-algorithms", "pue")
    ga_mem = energy_model_constant("green-algorithms", "memory_power_w_per_gb")
    ga_u = energy_model_constant("green-algorithms", "core_usage_factor")
    per_core = model.tdp_w / model.logical_cpus
    rows = []
    for name, w in workloads.items():
        wall, cpu, cores, mem = (float(w[k]) for k in ("wall_s", "cpu_time_s", "cores", "memory_gb"))
        rows.append({"workload": name, "wall_s": wall, "cpu_time_s": cpu, "tool":
                     "carbontracker 2.4.7 (prediction rule, no RAPL)", "power_w": ct_power,
                     "pue": ct_pue, "energy_kwh": ct_power * wall * ct_pue / _J_PER_KWH,
                     "rule": f"{ct_rule}, whole package, x PUE {ct_pue:g}"})
        cc_j = model.energy_j(cpu)
        rows.append({"workload": name, "wall_s": wall, "cpu_time_s": cpu,
                     "tool": f"CodeCarbon {CODECARBON_VERSION} (offline, process rule)",
                     "power_w": cc_j / wall if wall > 0 else float("nan"), "pue": 1.0,
                     "energy_kwh": cc_j / _J_PER_KWH, "rule": model.describe() + "; no PUE"})
        ga_w = cores * per_core * ga_u + mem * ga_mem
        rows.append({"workload": name, "wall_s": wall, "cpu_time_s": cpu,
                     "tool": "Green Algorithms (Lannelongue et al. 2021)", "power_w": ga_w,
                     "pue": ga_pue, "energy_kwh": ga_w * wall * ga_pue / _J_PER_KWH,
                     "rule": f"{cores:g} cores x {per_core:g} W (CodeCarbon's TDP per CPU) x u_c {ga_u:g} + "
                     f"{mem:g} GB x {ga_mem:g} W/GB, x PUE {ga_pue:g}"})
    return pd.DataFrame(rows)


