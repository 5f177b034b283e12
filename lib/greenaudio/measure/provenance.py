"""Labels derived from how an energy was obtained, so that an estimate can never be shown as a measurement.

Used by: :func:`greenaudio.plotting.energy_axis_label`, notebooks/05_1_cost_benchmark.ipynb (axis labels, legends,
captions and the correlation table of Figures 33–34), ``greenaudio bench``.

An energy's method label starts with its kind — ``measured:`` (a sensor: RAPL, NVML), ``estimated:`` (a power model
times a time) or ``predicted:`` (a tool's extrapolation, e.g. carbontracker's first epochs x N) — and its record
carries the constants (:attr:`greenaudio.measure.BenchmarkRecord.energy_constants`). Every function here reads those fields;
none takes a free-text label.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["KINDS", "energy_kind", "describe_energy", "energy_axis_label", "energy_is_time_proxy",
           "energy_caption_note"]

#: The three kinds of energy numbers, in the order labels list them.
KINDS = ("measured", "estimated", "predicted")


def energy_kind(method: str | None) -> str:
    """``"measured"``, ``"estimated"`` or ``"predicted"`` from a method label.

    Raises:
        ValueError: a label without one of the three prefixes (an energy of unknown provenance).
    """
    for kind in KINDS:
        if isinstance(method, str) and method.startswith(kind + ":"):
            return kind
    raise ValueError(f"energy method {method!r} has no provenance prefix; valid prefixes: {[k + ':' for k in KINDS]}")


def _fields(record: Any) -> tuple[str | None, Mapping[str, Any]]:
    if isinstance(record, Mapping):
        return record.get("energy_method", record.get("method")), record.get("energy_constants",
                                                                              record.get("constants")) or {}
    method = getattr(record, "energy_method", None) or getattr(record, "method", None)
    constants = getattr(record, "energy_constants", None)
    if constants is None:
        constants = getattr(record, "constants", None)
    return method, constants or {}


def describe_energy(record: Any) -> str:
    """One phrase saying how a record's energy was obtained, with the power model's constants.

    Examples: ``"measured (RAPL package, DRAM)"``, ``"estimated (CodeCarbon 3.3.2 CPU process rule: TDP 8 W x CPU
    time / 2 CPUs; CPU 'AMD EPYC' not matched)"``, ``"estimated (Tesla V100 300 W x 1 x 1 x time)"``.
    """
    method, c = _fields(record)
    kind = energy_kind(method)
    detail = method.split(":", 1)[1]
    if kind == "measured":
        parts = []
        if "rapl[" in detail:
            parts.append("RAPL " + detail.split("rapl[", 1)[1].split("]", 1)[0].replace(",", ", "))
        if "nvml" in detail:
            parts.append("NVML energy counter")
        return f"measured ({' + '.join(parts) or detail})"
    if kind == "estimated" and c.get("power_model"):
        matched = c.get("matched_cpu")
        which = f"matched to {matched}" if matched else "not matched in its table"
        return (f"estimated ({c['power_model']}: TDP {float(c['tdp_w']):g} W x process CPU time / "
                f"{c.get('logical_cpus')} CPUs; CPU {c.get('cpu_model')!r} {which})")
    if kind == "estimated" and c.get("hardware"):
        return (f"estimated ({c['hardware']} {float(c['max_power_w']):g} W x utilisation {float(c['utilisation']):g}"
                f" x core share {float(c.get('core_share', 1)):.3g} x wall time)")
    return f"{kind} ({detail})"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def energy_axis_label(records: Iterable[Any], quantity: str = "E_gen", unit: str = "J per 100 s of audio") -> str:
    """An axis label read from the records' provenance: ``"E_gen, estimated (CodeCarbon ...) (J per 100 s of audio)"``.

    Args:
        records: benchmark records (or anything with ``energy_method``/``energy_constants``, or dicts of them).
        quantity: the symbol on the axis.
        unit: its unit.

    Raises:
        ValueError: no records, or a record without a provenance prefix.
    """
    records = list(records)
    if not records:
        raise ValueError("energy_axis_label needs at least one record")
    descriptions = _unique(describe_energy(r) for r in records)
    return f"{quantity}, {' / '.join(descriptions)} ({unit})"


def energy_is_time_proxy(records: Iterable[Any]) -> bool:
    """True when every energy is an estimate (a constant power times a wall or CPU time): then the energy axis is
    a time axis in disguise, and any correlation with it is a correlation with time, not with a measured energy."""
    records = list(records)
    return bool(records) and all(energy_kind(_fields(r)[0]) == "estimated" for r in records)


def energy_caption_note(records: Iterable[Any]) -> str:
    """A sentence for captions: how the energies were obtained, and a warning when they are time in disguise."""
    records = list(records)
    kinds = _unique(energy_kind(_fields(r)[0]) for r in records)
    text = "Energy: " + "; ".join(_unique(describe_energy(r) for r in records)) + "."
    if energy_is_time_proxy(records):
        text += (" Every energy here is an ESTIMATE proportional to a measured time (no energy counter was read):"
                 " a correlation with it is a correlation with time, not with energy.")
    elif len(kinds) > 1:
        text += f" The figure mixes {' and '.join(kinds)} energies."
    return text
