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

__all__ = ["KINDS", "energy_kind", "energy_method_facts", "energy_method_label", "energy_axis_label",
           "energy_is_time_proxy", "energy_caption_note"]

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


def energy_method_facts(record: Any) -> dict[str, Any]:
    """How a record's energy was obtained, as facts read from its method label and constants.

    Returns:
        ``kind`` (``"measured"``, ``"estimated"`` or ``"predicted"``), ``detail`` (the label after the kind), and
        what the kind names: ``sensors`` (measured: e.g. ``["RAPL package, dram", "NVML energy counter"]``);
        ``power_model``, ``formula``, ``tdp_w``, ``logical_cpus``, ``cpu_model``, ``matched_cpu`` and
        ``ram_power_model`` (a CPU power model, e.g. CodeCarbon's, and the memory rule added to it, None if none);
        ``hardware``, ``max_power_w``, ``utilisation`` and ``core_share`` (a catalogue power times a time).
        Constants the record does not hold are absent.
    """
    method, c = _fields(record)
    kind = energy_kind(method)
    detail = method.split(":", 1)[1]
    facts: dict[str, Any] = {"kind": kind, "detail": detail}
    if kind == "measured":
        sensors = []
        if "rapl[" in detail:
            sensors.append("RAPL " + detail.split("rapl[", 1)[1].split("]", 1)[0].replace(",", ", "))
        if "nvml" in detail:
            sensors.append("NVML energy counter")
        facts["sensors"] = sensors
    elif kind == "estimated" and c.get("power_model"):
        facts.update(power_model=c["power_model"], formula=c.get("formula"), tdp_w=float(c["tdp_w"]),
                     logical_cpus=c.get("logical_cpus"), cpu_model=c.get("cpu_model"), matched_cpu=c.get("matched_cpu"),
                     ram_power_model=c.get("ram_power_model"))
    elif kind == "estimated" and c.get("hardware"):
        facts.update(hardware=c["hardware"], max_power_w=float(c["max_power_w"]),
                     utilisation=float(c["utilisation"]), core_share=float(c.get("core_share", 1)))
    return facts


def energy_method_label(record: Any) -> str:
    """A short label of how a record's energy was obtained, for axis labels, legends and a table's method column,
    built from :func:`energy_method_facts`: ``"measured (RAPL package, DRAM)"``, ``"estimated (CodeCarbon 3.3.2 CPU
    process rule: TDP 8 W x process CPU time / 2 CPUs; CPU 'AMD EPYC' not matched in its table)"``, ``"estimated
    (Tesla V100 300 W x utilisation 1 x core share 1 x wall time)"``."""
    f = energy_method_facts(record)
    if f["kind"] == "measured":
        return f"measured ({' + '.join(f['sensors']) or f['detail']})"
    if "power_model" in f:
        which = f"matched to {f['matched_cpu']}" if f["matched_cpu"] else "not matched in its table"
        ram = f" + {f['ram_power_model']}" if f["ram_power_model"] and not f["formula"] else ""
        rule = (f"{f['formula']}, TDP {f['tdp_w']:g} W, {f['logical_cpus']} logical CPUs" if f["formula"]
                else f"TDP {f['tdp_w']:g} W x process CPU time / {f['logical_cpus']} CPUs")
        return f"estimated ({f['power_model']}: {rule}{ram}; CPU {f['cpu_model']!r} {which})"
    if "hardware" in f:
        return (f"estimated ({f['hardware']} {f['max_power_w']:g} W x utilisation {f['utilisation']:g} x core share "
                f"{f['core_share']:.3g} x wall time)")
    return f"{f['kind']} ({f['detail']})"


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
    descriptions = _unique(energy_method_label(r) for r in records)
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
    text = "Energy: " + "; ".join(_unique(energy_method_label(r) for r in records)) + "."
    if energy_is_time_proxy(records):
        text += (" Every energy here is an ESTIMATE proportional to a measured time (no energy counter was read):"
                 " a correlation with it is a correlation with time, not with energy.")
    elif len(kinds) > 1:
        text += f" The figure mixes {' and '.join(kinds)} energies."
    return text
