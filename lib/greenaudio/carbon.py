"""Energy and carbon estimates of training runs (thesis §3.2.2, Eq. 44–46; §4.2, Eq. 48).

Used by: notebooks/04_2_carbon.ipynb, greenaudio.measure (power constants of the estimate path).

Catalogues (bundled CSVs, every row with its source):

- hardware: maximum power (TDP / board power, in W) of GPUs and CPUs — :func:`get_hardware`, :func:`list_hardware`;
- grid carbon intensities (in kgCO2e/kWh) with year and source — :func:`get_grid`, :func:`list_grids`;
- data-centre PUE presets with year and source — :func:`get_pue`, :func:`list_pues`.

Estimators (units in every name):

- :func:`compute_worst_case_energy_kwh` — the thesis's worst case (Eq. 48 without the intensity): ``g x p_max x t``;
- :func:`compute_strubell_energy_kwh` — Strubell et al.'s Eq. 46 times the duration: ``PUE x (p_c + p_r + g p_g) x t``;
- :func:`compute_emissions_kgco2e` — energy (kWh) x intensity (kgCO2e/kWh);
- :func:`compute_training_costs` — a whole table (Table 3) under any grid and PUE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ._resources import read_resource_csv
from .validation import check_choice, check_finite_number, check_positive_int

__all__ = ["get_hardware", "list_hardware", "get_grid", "list_grids", "get_pue", "list_pues",
           "compute_worst_case_energy_kwh", "compute_strubell_energy_kwh", "compute_emissions_kgco2e",
           "compute_training_costs", "lbs_to_kg"]

#: One avoirdupois pound in kilograms (exact, international yard and pound agreement of 1959).
LBS_TO_KG = 0.45359237
#: Joules in one kilowatt-hour.
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class HardwareSpec:
    """A device of the hardware catalogue.

    Attributes:
        name: catalogue name (e.g. ``"Tesla V100"``).
        kind: ``"gpu"`` or ``"cpu"``.
        max_power_w: maximum power from the manufacturer's specification (TDP or board power, in W).
        memory_gb: on-board memory of a GPU (in GB); ``None`` for CPUs.
        aliases: other spellings accepted by :func:`get_hardware` (e.g. the string ``nvidia-smi`` reports).
        source: where ``max_power_w`` comes from.
    """

    name: str
    kind: str
    max_power_w: float
    memory_gb: float | None
    aliases: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class GridIntensity:
    """Carbon intensity of an electricity grid (in kgCO2e per kWh), with the year of the data and its source."""

    name: str
    kgco2e_per_kwh: float
    year: int | None
    region: str
    source: str


@dataclass(frozen=True)
class PUEPreset:
    """Power usage effectiveness of a data centre (facility energy / IT energy, dimensionless >= 1)."""

    name: str
    pue: float
    year: int | None
    source: str


def _opt_int(value) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def _hardware_table() -> dict[str, HardwareSpec]:
    table = {}
    for row in read_resource_csv("hardware.csv").itertuples(index=False):
        memory = None if pd.isna(row.memory_gb) else float(row.memory_gb)
        aliases = tuple(a.strip() for a in str(row.aliases).split(";") if a.strip()) if not pd.isna(row.aliases) else ()
        table[row.name] = HardwareSpec(row.name, row.kind, float(row.max_power_w), memory, aliases, row.source)
    return table


def list_hardware(kind: str | None = None) -> list[str]:
    """Catalogue names, optionally only ``"gpu"`` or ``"cpu"``."""
    if kind is not None:
        try:
            kind = check_choice("kind", kind, ["gpu", "cpu"])
        except ValueError:
            raise ValueError(f"kind must be None, 'gpu' or 'cpu' (case-insensitive), got {kind!r}") from None
    return [n for n, spec in _hardware_table().items() if kind is None or spec.kind == kind]


def get_hardware(name: str) -> HardwareSpec:
    """Look up a device by catalogue name or alias (case-insensitive).

    Raises:
        ValueError: unknown device, with the list of known names.
    """
    table = _hardware_table()
    if isinstance(name, str):
        wanted = name.strip().lower()
        for spec in table.values():
            if wanted == spec.name.lower() or wanted in (a.lower() for a in spec.aliases):
                return spec
    raise ValueError(f"unknown hardware {name!r}; known hardware: {list(table)}")


def _preset_row(filename: str, name: str, what: str) -> pd.Series:
    """The row called ``name`` (case-insensitive, surrounding white space ignored) of a preset table, or a
    ValueError listing the known names."""
    table = read_resource_csv(filename)
    try:
        key = check_choice(what, name, list(table["name"]))
    except ValueError:
        raise ValueError(f"unknown {what} {name!r}; known {what}s: {list(table['name'])} (case-insensitive)") from None
    return table[table["name"] == key].iloc[0]


def list_grids() -> list[str]:
    """Names of the grid carbon-intensity presets."""
    return list(read_resource_csv("grid_intensity.csv")["name"])


def get_grid(name: str) -> GridIntensity:
    """A grid carbon-intensity preset by name, case-insensitive (e.g. ``"thesis-world-2018"``, ``"France"``).

    Raises:
        ValueError: unknown name, with the list of known grids.
    """
    row = _preset_row("grid_intensity.csv", name, "grid")
    return GridIntensity(row["name"], float(row["kgco2e_per_kwh"]), _opt_int(row["year"]), row["region"], row["source"])


def list_pues() -> list[str]:
    """Names of the PUE presets."""
    return list(read_resource_csv("pue.csv")["name"])


def get_pue(name: str) -> PUEPreset:
    """A PUE preset by name, case-insensitive (e.g. ``"uptime-2018"`` = 1.58).

    Raises:
        ValueError: unknown name, with the list of known presets.
    """
    row = _preset_row("pue.csv", name, "PUE preset")
    return PUEPreset(row["name"], float(row["pue"]), _opt_int(row["year"]), row["source"])


# -- validation helpers (greenaudio.validation's rules: numpy scalars accepted, booleans and strings rejected, plain
# Python values returned; the messages keep this module's wording) -------------------------------------------------
def _shown(value) -> str:
    """``value`` for a message: numpy scalars as their Python value (``8.7``, not ``np.float64(8.7)``)."""
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def _positive(name: str, value) -> float:
    try:
        return check_finite_number(name, value, min_value=0.0, min_inclusive=False)
    except ValueError:
        raise ValueError(f"{name} must be a finite number > 0, got {_shown(value)}") from None


def _non_negative(name: str, value) -> float:
    try:
        return check_finite_number(name, value, min_value=0.0)
    except ValueError:
        raise ValueError(f"{name} must be a finite number >= 0, got {_shown(value)}") from None


def _count(name: str, value) -> int:
    """A count (devices, GPUs): an integer >= 1, never a float (8.7 would be truncated), a string or a bool."""
    try:
        return check_positive_int(name, value)
    except ValueError:
        kind = "" if isinstance(value, (int, float, np.number)) else f" of type {type(value).__name__}"
        raise ValueError(f"{name} must be a positive integer, got {_shown(value)}{kind}") from None


def _power_w(hardware: str | HardwareSpec | float) -> float:
    if isinstance(hardware, HardwareSpec):
        return hardware.max_power_w
    if isinstance(hardware, str):
        return get_hardware(hardware).max_power_w
    return _positive("power (W)", hardware)


def _intensity(intensity: str | GridIntensity | float) -> float:
    if isinstance(intensity, GridIntensity):
        return intensity.kgco2e_per_kwh
    if isinstance(intensity, str):
        return get_grid(intensity).kgco2e_per_kwh
    return _non_negative("carbon intensity (kgCO2e/kWh)", intensity)


def _pue(pue: str | PUEPreset | float) -> float:
    if isinstance(pue, PUEPreset):
        return pue.pue
    if isinstance(pue, str):
        return get_pue(pue).pue
    value = _positive("PUE", pue)
    if value < 1:
        raise ValueError(f"PUE must be >= 1 (facility energy / IT energy), got {_shown(pue)}")
    return value


# -- estimators -----------------------------------------------------------------------------------------------------
def lbs_to_kg(mass_lbs: float) -> float:
    """Convert pounds to kilograms (thesis Table 4: 1 lbs = 0.45359237 kg)."""
    return _non_negative("mass (lbs)", mass_lbs) * LBS_TO_KG


def compute_worst_case_energy_kwh(hardware: str | HardwareSpec | float, device_count: int, hours: float) -> float:
    """The thesis's worst-case training energy (§4.2.2; ML CO2 Impact calculator): ``g x p_max x t``.

    Args:
        hardware: catalogue name, a :class:`HardwareSpec`, or a maximum power (in W).
        device_count: number of devices ``g`` (positive integer).
        hours: training time ``t`` (in hours, > 0).

    Returns:
        energy (in kWh), without PUE, CPU or DRAM (as the thesis assumes).
    """
    power_w = _power_w(hardware)
    return power_w * _count("device_count", device_count) * _positive("hours", hours) / 1000.0


def compute_strubell_energy_kwh(
    hours: float,
    gpu_power_w: float,
    gpu_count: int = 1,
    cpu_power_w: float = 0.0,
    dram_power_w: float = 0.0,
    pue: str | PUEPreset | float = "uptime-2018",
) -> float:
    """Training energy with Strubell et al.'s average power (thesis Eq. 46) times the duration (Eq. 45).

    ``E = PUE x (p_c + p_r + g x p_g) x t``.

    Args:
        hours: training time ``t`` (in hours, > 0).
        gpu_power_w: average power of one GPU ``p_g`` (in W), or a catalogue name for its maximum power.
        gpu_count: number of GPUs ``g``.
        cpu_power_w: average CPU power ``p_c`` (in W).
        dram_power_w: average DRAM power ``p_r`` (in W).
        pue: PUE value or preset name (default 1.58, Uptime Institute 2018, as Strubell et al.).

    Returns:
        energy (in kWh).
    """
    p_g = _power_w(gpu_power_w)
    total_w = _non_negative("cpu_power_w", cpu_power_w) + _non_negative("dram_power_w", dram_power_w)
    total_w += _count("gpu_count", gpu_count) * p_g
    return _pue(pue) * total_w * _positive("hours", hours) / 1000.0


def compute_emissions_kgco2e(energy_kwh: float, intensity: str | GridIntensity | float = "thesis-world-2018") -> float:
    """Emissions (in kgCO2e) of an energy (in kWh) on a grid (preset name or kgCO2e/kWh; thesis: 0.437)."""
    return _non_negative("energy_kwh", energy_kwh) * _intensity(intensity)


def compute_training_costs(
    runs: pd.DataFrame,
    grid: str | GridIntensity | float = "thesis-world-2018",
    pue: str | PUEPreset | float = "none",
) -> pd.DataFrame:
    """Energy and emissions of a table of training runs (thesis Table 3 under any grid and PUE).

    Args:
        runs: columns ``model``, ``hardware`` (catalogue name), ``gpu_count``, ``hours``.
        grid: carbon intensity preset or value (in kgCO2e/kWh).
        pue: PUE preset or value; ``"none"`` (1.0) reproduces the thesis's Eq. 48.

    Returns:
        ``model, hardware, gpu_count, hours, power_w, energy_kwh, emissions_kgco2e`` (energy includes the PUE).

    Raises:
        ValueError: a missing column, an unknown grid, PUE or hardware, or a row whose ``gpu_count`` is not a positive
            integer (8.7, ``"8"``, ``True``, NaN: never truncated or parsed) or whose ``hours`` is not a finite number
            > 0; the message names the column, the row and the bad value. Every row is checked before any is computed.
    """
    if not isinstance(runs, pd.DataFrame):
        raise ValueError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    missing = {"model", "hardware", "gpu_count", "hours"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs is missing column(s) {sorted(missing)}")
    factor = _pue(pue)
    intensity = _intensity(grid)
    checked = []
    for i, run in enumerate(runs.itertuples(index=False)):
        where = f" (runs row {i}, model {run.model!r})"
        try:
            spec = get_hardware(run.hardware)
            checked.append((run, spec, _count("gpu_count", run.gpu_count), _positive("hours", run.hours)))
        except ValueError as exc:
            raise ValueError(f"{exc}{where}") from None
    rows = []
    for run, spec, gpu_count, hours in checked:
        energy = factor * compute_worst_case_energy_kwh(spec, gpu_count, hours)
        rows.append(
            {
                "model": run.model,
                "hardware": run.hardware,
                "gpu_count": gpu_count,
                "hours": hours,
                "power_w": spec.max_power_w,
                "energy_kwh": energy,
                "emissions_kgco2e": compute_emissions_kgco2e(energy, intensity),
            }
        )
    return pd.DataFrame(rows)


def iter_grid_scenarios(grids: Iterable[str], pues: Iterable[str]):
    """Yield ``(grid_name, pue_name)`` pairs for sensitivity studies, validating every name first."""
    grids = [get_grid(g).name for g in grids]  # the catalogue's spelling ("France" -> "france")
    pues = [get_pue(p).name for p in pues]
    for g in grids:
        for p in pues:
            yield g, p
