"""Computed checks of the thesis's printed numbers against each other (the book's errata).

Used by: notebooks/04_4_errata.ipynb (and the chapter notebooks that point to it).

Two layers:

- the *checks* (``check_*``) recompute printed numbers from other printed numbers, or compare two places that print
  the same quantity, and return :class:`Erratum` records (every compared value, agreeing or not);
- :func:`compute_errata_table` is the book's errata list: one row per erratum (``resources/errata.csv`` holds its
  fixed words: where, what is printed, what it is compared with, the likely reading), with the comparison computed
  here and a verdict.

Precision: a printed value stands for every value that rounds to it, so it carries half a unit of its last printed
digit (:func:`compute_half_unit`: ``"11.3"`` -> 0.05, ``"272"`` -> 0.5). Printed values are therefore read as the
strings the thesis printed (``resources/*.csv`` read as text), not as floats, which would lose trailing zeros.

Verdicts (:func:`compute_verdict`): *consistent* when the two sides agree at the printed precision; otherwise
*inconsistent* when both sides state the same quantity, *suspect* when the printed value contradicts no other printed
value but implies a physically implausible one (outside a stated range).

Nothing is corrected silently: the book shows the printed value, the other one, and the likely reading.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd

from . import carbon, published
from ._resources import read_resource_csv, resource_path
from .pareto import compute_dominators, compute_pct_mos
from .validation import check_bool, check_choice, check_finite_number, check_positive_int, check_positive_number

__all__ = ["KINDS", "check_table5_pct_mos", "check_waveflow_training_steps", "check_table8_energy_unit",
           "compute_figure27_dominance", "compute_table8_implied_power", "compute_energy_unit_fit",
           "compute_diffwave_matches", "compute_quality_with_size", "compute_table9_int8_ratios", "compute_errata",
           "compute_errata_table"]

#: The verdicts of :func:`compute_verdict`, from the strongest.
VERDICTS = ("inconsistent", "suspect", "consistent")
#: What an erratum compares: two statements of the same quantity, or a printed value against a plausible range.
KINDS = ("same quantity", "plausibility")

#: The GPU of the thesis's Chapter 5 measurements (§5.1.3); its maximum power is in ``resources/hardware.csv``.
TABLE8_GPU = "RTX A5000"
#: The seconds of audio Table 8's E_gen refers to (10 clips of 10 s, §5.2.3).
TABLE8_AUDIO_S = 100.0
#: A plausible mean power of a GPU at work, as fractions of its maximum board power (a tenth of it to all of it).
POWER_BAND = (0.1, 1.0)
#: Candidate units of Table 8's E_gen, in joules.
ENERGY_UNITS = {"mJ": 1e-3, "J": 1.0, "kJ": 1e3}
#: What a serialised fp32 file may hold beyond 4 bytes per parameter (names, weight-norm gains, buffers), relative.
FILE_OVERHEAD = 0.02
#: Two counts of one configuration (a paper's and the thesis's) differ by at most this much (counting conventions).
COUNT_ALLOWANCE = 0.01


@dataclass(frozen=True)
class Erratum:
    """One computed comparison.

    Attributes:
        check: short identifier of the check (e.g. ``"table5-pct-mos"``).
        location: where the printed number is and what it is compared with (table, section, page).
        item: the row or quantity compared.
        printed: the value as printed.
        computed: the value recomputed from other printed values (or printed elsewhere).
        consistent: whether printed and computed agree at the printed precision
            (:func:`compute_within_printed_precision`).
        note: how ``computed`` was obtained (a formula or the place it is printed).
    """

    check: str
    location: str
    item: str
    printed: float | str
    computed: float | str
    consistent: bool
    note: str


# --- printed precision ----------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*[~≈]?\s*([+-]?\d+(?:[.,]\d+)?)")


def _number_text(printed: str) -> str:
    if not isinstance(printed, str):
        raise ValueError(f"printed must be the value as printed, a string (e.g. '11.3', '272', '0.928M'), got "
                         f"{printed!r} of type {type(printed).__name__}")
    match = _NUMBER.match(printed)
    if not match:
        raise ValueError(f"printed must start with a number as printed (e.g. '11.3', '272', '0.928M'), got {printed!r}")
    return match.group(1)


def compute_half_unit(printed: str) -> float:
    """Half a unit of the last digit of a printed number: the rounding it may carry.

    ``"11.3"`` -> 0.05, ``"272"`` -> 0.5, ``"0.928M"`` -> 0.0005, ``"5MB"`` -> 0.5. The number is the string's leading
    digits (a unit may follow); a comma is a decimal separator (the thesis prints Eq. 48's factor as ``0,437``).

    Raises:
        ValueError: ``printed`` is not a string starting with a number.
    """
    digits = _number_text(printed)
    decimals = len(re.split(r"[.,]", digits)[1]) if re.search(r"[.,]", digits) else 0
    return 0.5 * 10.0 ** (-decimals)


def compute_printed_value(printed: str) -> float:
    """The number a printed string states (``"0,437"`` -> 0.437, ``"13.94M"`` -> 13.94)."""
    return float(_number_text(printed).replace(",", "."))


def compute_within_printed_precision(printed: str, other: float | str,
                                     other_range: tuple[float, float] | None = None) -> bool:
    """Whether a printed value agrees with another at the printed precision.

    Args:
        printed: the value as printed (a string, see :func:`compute_half_unit`).
        other: an exact number (agreement: ``|printed - other| <= half unit``), or another printed string (agreement:
            some value rounds to both, i.e. ``|a - b| < half unit of a + half unit of b``).
        other_range: for a number recomputed from rounded inputs, the interval it may lie in (``other`` is then its
            central value); agreement when the interval meets the printed value's.

    Raises:
        ValueError: a printed value that is not a string starting with a number, or a bad range.
    """
    value, half = compute_printed_value(printed), compute_half_unit(printed)
    if isinstance(other, str):
        o_value, o_half = compute_printed_value(other), compute_half_unit(other)
        return bool(abs(value - o_value) < (half + o_half) * (1 - 1e-9))
    other = check_finite_number("other", other)
    if other_range is None:
        return bool(abs(value - other) <= half * (1 + 1e-9) + 1e-12)
    lo = check_finite_number("other_range[0]", other_range[0])
    hi = check_finite_number("other_range[1]", other_range[1])
    if lo > hi:
        raise ValueError(f"other_range must be (low, high) with low <= high, got {other_range!r}")
    return bool(lo <= value + half * (1 + 1e-9) and value - half * (1 + 1e-9) <= hi)


def compute_verdict(within: bool, kind: str) -> str:
    """``"consistent"`` when ``within``; else ``"inconsistent"`` for two statements of the same quantity and
    ``"suspect"`` for a printed value outside a plausible range (``kind`` in :data:`KINDS`)."""
    within = check_bool("within", within)
    kind = check_choice("kind", kind, KINDS)
    if within:
        return "consistent"
    return "inconsistent" if kind == "same quantity" else "suspect"


@lru_cache(maxsize=None)
def _printed_csv(filename: str) -> pd.DataFrame:
    """A bundled CSV read as text: every cell as printed (``"3.90"`` keeps its zero)."""
    with resource_path(filename).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def _printed(filename: str) -> pd.DataFrame:
    return _printed_csv(filename).copy()


def _text_values(check: str) -> pd.DataFrame:
    """The running-text numbers a check uses (``resources/errata_text_values.csv``, values as printed)."""
    table = _printed("errata_text_values.csv")
    return table[table["check"] == check].reset_index(drop=True)


def _text_value(check: str, item: str) -> pd.Series:
    rows = _text_values(check)
    return rows[rows["item"] == item].iloc[0]


def _range_of(printed: str) -> tuple[float, float]:
    value, half = compute_printed_value(printed), compute_half_unit(printed)
    return value - half, value + half


def _table8() -> pd.DataFrame:
    """Table 8 as printed strings, indexed by (model, size); parameter counts without their 'M'."""
    table = _printed("vocoder_cost_table8.csv")
    table["params"] = table["printed_params"].str.rstrip("M").str.strip()
    return table.set_index(["model", "size"])


def _gpu_max_power_w(gpu: str = TABLE8_GPU) -> float:
    return float(read_resource_csv("hardware.csv").set_index("name").loc[gpu, "max_power_w"])


# --- Chapter 4 ------------------------------------------------------------------------------------------------------

def check_table3_energy_and_emissions() -> list[Erratum]:
    """Table 3: kWh = g x p_max x t / 1000 and kgCO2e = 0.437 x kWh, recomputed from the printed inputs."""
    runs = published.load_training_runs()
    printed = _printed("training_costs_table3.csv").set_index("model")
    costs = carbon.compute_training_costs(runs, grid="thesis-world-2018", pue="none")
    out = []
    for run, cost in zip(runs.itertuples(index=False), costs.itertuples(index=False)):
        kwh, kg = printed.loc[run.model, "printed_kwh"], printed.loc[run.model, "printed_kgco2e"]
        out.append(Erratum("table3-kwh", "Table 3 (p. 54)", run.model, float(kwh), cost.energy_kwh,
                           compute_within_printed_precision(kwh, cost.energy_kwh),
                           f"{run.gpu_count} x {cost.power_w:g} W x {run.hours:g} h / 1000"))
        out.append(Erratum("table3-kgco2e", "Table 3 (p. 54)", run.model, float(kg), cost.emissions_kgco2e,
                           compute_within_printed_precision(kg, cost.emissions_kgco2e),
                           "0.437 kgCO2e/kWh x computed kWh (Eq. 48, with the / 1000)"))
    return out


def check_table3_against_text() -> list[Erratum]:
    """Table 3's GPU counts and hours against the training details of §4.2.1, and the kgCO2e §4.2.2.1 quotes.

    Training times are compared in the text's unit (days), at the text's precision: Table 3's hours / 24 must round
    to the printed days (FloWaveNet: 272 h = 11.33 days, printed 11.3).
    """
    table3 = _printed("training_costs_table3.csv").set_index("model")
    out = []
    gpus = _text_value("jukebox-gpus", "Jukebox")
    out.append(Erratum("jukebox-gpus", f"{gpus.section} (p. {gpus.page}) vs Table 3 (p. 54)", "Jukebox GPU count",
                       float(gpus.value), float(table3.loc["Jukebox", "gpu_count"]),
                       compute_within_printed_precision(gpus.value, table3.loc["Jukebox", "gpu_count"]),
                       "text: NVIDIA V100; Table 3: Tesla V100"))
    for text in _text_values("table3-hours").itertuples(index=False):
        hours = table3.loc[text.item, "hours"]
        lo, hi = _range_of(hours)
        days = compute_printed_value(hours) / 24.0
        out.append(Erratum("table3-hours", f"{text.section} (p. {text.page}) vs Table 3 (p. 54)",
                           f"{text.item} training days", float(text.value), days,
                           compute_within_printed_precision(text.value, days, (lo / 24.0, hi / 24.0)),
                           f"Table 3: {hours} h / 24 h per day"))
    quoted = _text_value("jukebox-text-kg", "Jukebox")
    printed_kg = table3.loc["Jukebox", "printed_kgco2e"]
    out.append(Erratum("jukebox-text-kg", f"{quoted.section} (p. {quoted.page}) vs Table 3 (p. 54)",
                       "Jukebox kgCO2e quoted in the text", float(quoted.value), float(printed_kg),
                       compute_within_printed_precision(quoted.value, printed_kg),
                       f"Table 3 prints {printed_kg} (0.437 x {table3.loc['Jukebox', 'printed_kwh']} kWh)"))
    return out


def check_eq48_units() -> list[Erratum]:
    """Eq. 48 as printed, ``CO2e = 0.437 x g x p_max x t`` (p_max in W, t in h), against Table 3's kgCO2e."""
    runs = published.load_training_runs()
    table3 = _printed("training_costs_table3.csv").set_index("model")
    out = []
    for run in runs.itertuples(index=False):
        power = carbon.get_hardware(run.hardware).max_power_w
        as_printed = 0.437 * int(run.gpu_count) * power * float(run.hours)
        kg = table3.loc[run.model, "printed_kgco2e"]
        out.append(Erratum("eq48-units", "§4.2.2 Eq. 48 (p. 54) vs Table 3 (p. 54)", f"{run.model} kgCO2e",
                           float(kg), as_printed, compute_within_printed_precision(kg, as_printed),
                           f"0.437 x {run.gpu_count} x {power:g} W x {run.hours:g} h, no / 1000"))
    return out


def check_table4_conversion() -> list[Erratum]:
    """Table 4: kgCO2e = lbsCO2e x 0.45359237."""
    printed = _printed("familiar_emissions_table4.csv").set_index("consumption")
    out = []
    for row in published.load_familiar_emissions().itertuples(index=False):
        kg = carbon.lbs_to_kg(float(row.lbsco2e))
        text = printed.loc[row.consumption, "printed_kgco2e"]
        out.append(Erratum("table4-kg", "Table 4 (p. 54)", row.consumption, float(text), kg,
                           compute_within_printed_precision(text, kg), f"{row.lbsco2e} lbs x 0.45359237 kg/lbs"))
    return out


def check_jukebox_human_year() -> list[Erratum]:
    """§4.2.2.1: Jukebox's training is "almost on par" with a human's yearly emissions; Table 3 / Table 4."""
    claim = _text_value("jukebox-human-year", "Jukebox")
    jukebox = _printed("training_costs_table3.csv").set_index("model").loc["Jukebox", "printed_kgco2e"]
    human = _printed("familiar_emissions_table4.csv").set_index("consumption").loc["Human life, avg, 1 year",
                                                                                   "printed_kgco2e"]
    ratio = compute_printed_value(jukebox) / compute_printed_value(human)
    return [Erratum("jukebox-human-year", f"{claim.section} (p. {claim.page}) vs Tables 3 and 4 (p. 54)",
                    "Jukebox kgCO2e / a human's yearly kgCO2e", float(claim.value), ratio,
                    compute_within_printed_precision(claim.value, ratio), f"{jukebox} / {human} kgCO2e")]


def check_table5_pct_mos() -> list[Erratum]:
    """Table 5: %MOS = MOS_M / MOS_GT (thesis §4.3.1), against the printed %MOS at its two decimals.

    The ratio's range follows from the printed MOS values' own precision.
    """
    printed = _printed("inter_model_mos_table5.csv").set_index("model")
    out = []
    for row in published.load_inter_model_mos().itertuples(index=False):
        m, gt = printed.loc[row.model, "mos_m"], printed.loc[row.model, "mos_gt"]
        ratio = compute_pct_mos(row.mos_m, row.mos_gt)
        (m_lo, m_hi), (gt_lo, gt_hi) = _range_of(m), _range_of(gt)
        ok = compute_within_printed_precision(printed.loc[row.model, "printed_pct_mos"], ratio,
                                              (m_lo / gt_hi, m_hi / gt_lo))
        out.append(Erratum("table5-pct-mos", "Table 5 (p. 56)", row.model, float(row.printed_pct_mos), ratio, ok,
                           f"MOS_M / MOS_GT = {m} / {gt}"))
    return out


def _inter_model_table() -> pd.DataFrame:
    runs = carbon.compute_training_costs(published.load_training_runs())
    mos = published.load_inter_model_mos()
    return mos.merge(runs[["model", "emissions_kgco2e"]], on="model", how="left")


def compute_figure27_dominance(pct_mos: dict[str, float] | None = None) -> pd.DataFrame:
    """Who dominates whom on Figure 27's two fronts (§4.3.1), from Table 3's kgCO2e, Table 5's parameters and %MOS.

    Args:
        pct_mos: %MOS values replacing the printed ones (``{"WaveGAN": 1.70}``: the figure if Table 5's MOS columns
            were right and its %MOS wrong).

    Returns:
        ``front, model, pct_mos, dominated_by, dominates`` (model names, comma-separated and sorted; empty if none).
    """
    table = _inter_model_table()
    names = table["model"].tolist()
    for model, value in (pct_mos or {}).items():
        model = check_choice("pct_mos model", model, names)
        table.loc[table["model"] == model, "printed_pct_mos"] = check_positive_number(f"pct_mos[{model!r}]", value)
    rows = []
    for front, column in (("training", "emissions_kgco2e"), ("inference", "params_millions")):
        doms = compute_dominators(table[[column, "printed_pct_mos"]].to_numpy(), ["min", "max"])
        for i, model in enumerate(names):
            rows.append({"front": front, "model": model, "pct_mos": float(table["printed_pct_mos"].iloc[i]),
                         "dominated_by": ", ".join(sorted(names[j] for j in doms[i])),
                         "dominates": ", ".join(sorted(names[j] for j in range(len(names)) if i in doms[j]))})
    return pd.DataFrame(rows)


def check_inter_model_pareto_claims() -> list[Erratum]:
    """§4.3.1's statements about who dominates whom in Figure 27, recomputed with the printed %MOS."""
    dominance = compute_figure27_dominance().set_index(["front", "model"])["dominated_by"]
    claims = (("training", "FloWaveNet", "RAVE, SING"), ("inference", "WaveGAN", "RAVE, SING"),
              ("inference", "FloWaveNet", "RAVE, SING"))
    out = []
    for front, model, claimed in claims:
        found = dominance.loc[(front, model)]
        source = "Table 3 kgCO2e" if front == "training" else "Table 5 parameters"
        out.append(Erratum("figure27-dominance", f"§4.3.1 (p. 56), {front} front of Figure 27",
                           f"{model} dominated by", claimed, found, found == claimed,
                           f"{source} and printed %MOS (Table 5)"))
    return out


def check_waveflow_training_steps() -> list[Erratum]:
    """§4.3.2 gives steps per residual-channel count with 96 listed twice (3M and 2M); test both readings.

    Reading A: r = 64 and 96 -> 3M steps, r = 128 -> 2M, r = 256 -> 1M. Reading B: r = 64 -> 3M, r = 96 and 128 -> 2M.
    Under each reading, training energy per million steps should grow with the model size (same hardware, batch).
    """
    wf = published.load_waveflow_configs()
    text = published.load_errata_text_values()
    text = text[text["check"] == "waveflow-steps"]
    readings = {
        reading: {int(q.split("=")[1]): float(v) for q, v in zip(rows["quantity"], rows["value"])}
        for reading, rows in text.groupby("item", sort=True)
    }
    out = []
    printed = "r = 64 and 96: 3M; r = 128 and 96: 2M; r = 256: 1M"
    for name, steps in readings.items():
        per_m = [row.e_train_kwh / steps[int(row.r)] for row in wf.itertuples(index=False)]
        monotone = bool(np.all(np.diff(per_m) >= 0))
        out.append(Erratum("waveflow-steps", "§4.3.2 (p. 57) / Table 6 (p. 58)",
                           f"{name}: E_train per million steps (kWh)", printed, ", ".join(f"{v:.1f}" for v in per_m),
                           monotone, "Table 6 E_train / million steps; must not decrease with size"))
    return out


# --- Chapter 5 ------------------------------------------------------------------------------------------------------

def check_section_5_1_1_parameters() -> list[Erratum]:
    """The parameter counts §5.1.1 quotes (mostly the original papers') against Table 8's, both as printed.

    The text's WaveGrad "base" and DiffWave "Base" are compared with Table 8's MEDIUM (the text calls WaveGrad's base
    "our medium"; for DiffWave see :func:`check_diffwave_added_configuration`).
    """
    table8 = _table8()
    out = []
    for text in _text_values("section5.1.1-params").itertuples(index=False):
        model, size = text.item.split()
        counted = table8.loc[(model, size), "params"]
        out.append(Erratum("section5.1.1-params", f"{text.section} (p. {text.page}) vs Table 8 (p. 69)",
                           f"{model} {size} parameters (M; {text.quantity})", float(text.value), float(counted),
                           compute_within_printed_precision(text.value, counted),
                           f"Table 8 prints {table8.loc[(model, size), 'printed_params']}"))
    return out


def compute_diffwave_matches(count_allowance: float = COUNT_ALLOWANCE) -> pd.DataFrame:
    """Which of Table 8's DiffWave sizes has the parameter count of a configuration of the DiffWave paper.

    The paper's counts are those §5.1.1 quotes (Base 2.64 M, Large 6.91 M); a count matches when it is within
    ``count_allowance`` (relative) of it: the same model counted under two conventions.

    Args:
        count_allowance: relative difference two counts of one configuration may have (0.01 = 1 %).

    Returns:
        ``size, params_millions, paper_configuration`` (the matching paper configuration, empty if none),
        ``relative_difference`` (to the closest paper count).
    """
    count_allowance = check_finite_number("count_allowance", count_allowance, min_value=0.0, max_value=1.0)
    text = _text_values("section5.1.1-params")
    paper = {"Base": float(text[text.item == "diffwave medium"].value.iloc[0]),
             "Large": float(text[text.item == "diffwave large"].value.iloc[0])}
    table8 = _table8().loc["diffwave"]
    rows = []
    for size, count in table8["params"].items():
        count = float(count)
        name, ref = min(paper.items(), key=lambda kv: abs(count / kv[1] - 1))
        diff = count / ref - 1
        rows.append({"size": size, "params_millions": count,
                     "paper_configuration": name if abs(diff) <= count_allowance else "",
                     "relative_difference": diff})
    return pd.DataFrame(rows)


def check_diffwave_added_configuration(count_allowance: float = COUNT_ALLOWANCE) -> list[Erratum]:
    """§5.1.1: "We use the two configurations provided in the original paper (Base 2.64M and Large 6.91M), and add our
    own *medium*": the added configuration is Table 8's size matching neither paper count."""
    matches = compute_diffwave_matches(count_allowance)
    added = ", ".join(matches.loc[matches.paper_configuration == "", "size"])
    return [Erratum("diffwave-added", "§5.1.1 (p. 63) vs Table 8 (p. 69)",
                    "DiffWave configuration added by the thesis",
                    "medium", added, added == "medium",
                    f"Table 8 sizes whose count is within {count_allowance:.0%} of neither paper count")]


def compute_quality_with_size() -> pd.DataFrame:
    """Table 7's MOS from each size to the next larger one, per family.

    Returns:
        ``model, from_size, to_size, mos_from, mos_to`` (as printed), ``change`` and ``decreases`` (the MOS falls by
        more than the two printed values' rounding).
    """
    table7 = _printed("vocoder_quality_table7.csv")
    table7 = table7[table7["model"] != "ground_truth"]
    rows = []
    for model, group in table7.groupby("model", sort=False):
        mos = group.set_index("size")["mos"]
        for a, b in (("small", "medium"), ("medium", "large")):
            change = compute_printed_value(mos[b]) - compute_printed_value(mos[a])
            tolerance = compute_half_unit(mos[a]) + compute_half_unit(mos[b])
            rows.append({"model": model, "from_size": a, "to_size": b, "mos_from": mos[a], "mos_to": mos[b],
                         "change": change, "decreases": bool(change < -tolerance)})
    return pd.DataFrame(rows)


def check_table7_quality_with_size() -> list[Erratum]:
    """§5.2.2: "increasing the size of the architecture consistently increases the quality", against Table 7."""
    return [Erratum("section5.2.2-quality", "§5.2.2 (p. 67) vs Table 7 (p. 67)",
                    f"{r.model}: MOS {r.from_size} -> {r.to_size}", "increases", r.change, not r.decreases,
                    f"Table 7: {r.mos_from} -> {r.mos_to}")
            for r in compute_quality_with_size().itertuples(index=False)]


def compute_table8_implied_power(reference_seconds_of_audio: float = TABLE8_AUDIO_S) -> pd.DataFrame:
    """The mean power Table 8's E_gen implies over the GPU time its own RTF gives, E_gen / (RTF x audio seconds).

    Args:
        reference_seconds_of_audio: the audio duration E_gen refers to (in s of audio; 100 in Table 8).

    Returns:
        ``model, size, e_gen_printed, rtf_gpu, gflops_per_audio_s, seconds`` and ``power_w`` (E_gen read as joules),
        ``power_w_low``/``power_w_high`` (its range from the printed RTF's and E_gen's rounding).
    """
    reference_seconds_of_audio = check_positive_number("reference_seconds_of_audio", reference_seconds_of_audio)
    rows = []
    for (model, size), row in _table8().iterrows():
        e_lo, e_hi = _range_of(row.e_gen_printed)
        r_lo, r_hi = _range_of(row.rtf_gpu)
        seconds = compute_printed_value(row.rtf_gpu) * reference_seconds_of_audio
        rows.append({"model": model, "size": size, "e_gen_printed": float(row.e_gen_printed),
                     "rtf_gpu": float(row.rtf_gpu), "gflops_per_audio_s": float(row.gflops_per_audio_s),
                     "seconds": seconds, "power_w": compute_printed_value(row.e_gen_printed) / seconds,
                     "power_w_low": e_lo / (r_hi * reference_seconds_of_audio),
                     "power_w_high": e_hi / (r_lo * reference_seconds_of_audio)})
    return pd.DataFrame(rows)


def compute_energy_unit_fit(band: tuple[float, float] = POWER_BAND, gpu: str = TABLE8_GPU) -> pd.DataFrame:
    """For each candidate unit of Table 8's E_gen (mJ, J, kJ), how many rows imply a plausible mean GPU power.

    Args:
        band: the plausible mean power, as fractions of the GPU's maximum power (a tenth of it to all of it).
        gpu: the GPU, a name of ``resources/hardware.csv``.

    Returns:
        ``unit, joules_per_unit, rows, rows_in_band, power_w_min, power_w_max, band_w_low, band_w_high``.
    """
    lo_frac = check_finite_number("band[0]", band[0], min_value=0.0)
    hi_frac = check_finite_number("band[1]", band[1], min_value=lo_frac)
    max_w = _gpu_max_power_w(gpu)
    power = compute_table8_implied_power()
    rows = []
    for unit, joules in ENERGY_UNITS.items():
        low, high = power.power_w_low * joules, power.power_w_high * joules
        inside = (high >= lo_frac * max_w) & (low <= hi_frac * max_w)
        rows.append({"unit": unit, "joules_per_unit": joules, "rows": len(power), "rows_in_band": int(inside.sum()),
                     "power_w_min": float((power.power_w * joules).min()),
                     "power_w_max": float((power.power_w * joules).max()),
                     "band_w_low": lo_frac * max_w, "band_w_high": hi_frac * max_w})
    return pd.DataFrame(rows)


def check_table8_energy_unit(reference_seconds_of_audio: float = TABLE8_AUDIO_S) -> list[Erratum]:
    """Table 8's E_gen, printed in mJ per 100 s of audio, against its GPU real-time factor.

    Generating 100 s of audio at a GPU RTF r takes ``100 r`` seconds; ``computed`` is the mean power (W) the printed
    mJ imply, ``consistent`` whether it lies within :data:`POWER_BAND` of the GPU's maximum power (the RTX A5000 of
    §5.1.3, ``resources/hardware.csv``).

    Args:
        reference_seconds_of_audio: the audio duration E_gen refers to (in s of audio; 100 in Table 8).
    """
    power = compute_table8_implied_power(reference_seconds_of_audio)
    max_w = _gpu_max_power_w()
    out = []
    for row in power.itertuples(index=False):
        mj = ENERGY_UNITS["mJ"]
        inside = row.power_w_high * mj >= POWER_BAND[0] * max_w and row.power_w_low * mj <= POWER_BAND[1] * max_w
        out.append(Erratum("table8-egen-unit", "Table 8 (p. 69)",
                           f"{row.model} {row.size}: implied GPU power (W) if E_gen is in mJ", row.e_gen_printed,
                           row.power_w * mj, bool(inside),
                           f"{row.e_gen_printed:g} mJ / ({row.rtf_gpu:g} x {reference_seconds_of_audio:g} s); "
                           f"as J: {row.power_w:.0f} W"))
    return out


def check_table8_power_plausibility(gpu: str = TABLE8_GPU) -> list[Erratum]:
    """Each Table 8 row's mean power with E_gen read as joules against the GPU's power band (:data:`POWER_BAND`)."""
    max_w = _gpu_max_power_w(gpu)
    out = []
    for row in compute_table8_implied_power().itertuples(index=False):
        inside = row.power_w_high >= POWER_BAND[0] * max_w and row.power_w_low <= POWER_BAND[1] * max_w
        out.append(Erratum("table8-power", "Table 8 (p. 69)",
                           f"{row.model} {row.size}: implied GPU power (W), E_gen in J",
                           row.e_gen_printed, row.power_w, bool(inside),
                           f"E_gen / (RTF x 100 s): {row.power_w_low:.0f}–{row.power_w_high:.0f} W; "
                           f"band {POWER_BAND[0] * max_w:g}–{POWER_BAND[1] * max_w:g} W ({gpu})"))
    return out


# --- Chapter 6 ------------------------------------------------------------------------------------------------------

def check_section_6_4_gflops() -> list[Erratum]:
    """§6.4 quotes GFLOPs of MelGAN medium and HiFi-GAN large; compare with Table 8, both as printed."""
    table8 = _table8()
    out = []
    for item, rows in _text_values("section6.4-gflops").groupby("item", sort=False):
        model, size = item.split()
        quoted = rows.set_index("quantity").loc["GFLOPs per second of audio"]
        printed = table8.loc[(model, size), "gflops_per_audio_s"]
        out.append(Erratum("section6.4-gflops", f"{quoted.section} (p. {quoted.page}) vs Table 8 (p. 69)",
                           f"{model} {size} GFLOPs per second of audio", float(quoted.value), float(printed),
                           compute_within_printed_precision(quoted.value, printed), f"Table 8 prints {printed}"))
    return out


def _file_range(params: str, bytes_per_parameter: int, file_overhead: float) -> tuple[float, float]:
    lo, hi = _range_of(params)
    return lo * bytes_per_parameter, hi * bytes_per_parameter * (1 + file_overhead)


def check_table9_sizes(bytes_per_parameter: int = 4, file_overhead: float = FILE_OVERHEAD) -> list[Erratum]:
    """Table 9's fp32 sizes against Table 8's parameter counts x 4 bytes (MB = 1e6 bytes).

    A file holds the weights and a little more (names, weight-norm gains, buffers): a printed size agrees with a count
    when its rounding interval meets ``[4 x count, 4 x count x (1 + file_overhead)]`` (the count's own rounding
    included). ``note`` names every size of the same model whose count the printed size matches.

    Args:
        bytes_per_parameter: storage of one parameter (in bytes; 4 for fp32).
        file_overhead: what a file may hold beyond the weights, relative (0.02 = 2 %).
    """
    bytes_per_parameter = check_positive_int("bytes_per_parameter", bytes_per_parameter)
    file_overhead = check_finite_number("file_overhead", file_overhead, min_value=0.0, max_value=1.0)
    sizes = _printed("quantization_sizes_table9.csv")
    table8 = _table8()
    out = []
    for row in sizes.itertuples(index=False):
        own = table8.loc[(row.model, row.size), "params"]
        expected = compute_printed_value(own) * bytes_per_parameter
        ok = compute_within_printed_precision(row.size_fp32_mb, expected,
                                              _file_range(own, bytes_per_parameter, file_overhead))
        matches = [size for size, count in table8.loc[row.model, "params"].items()
                   if compute_within_printed_precision(
                       row.size_fp32_mb, compute_printed_value(count) * bytes_per_parameter,
                       _file_range(count, bytes_per_parameter, file_overhead))]
        out.append(Erratum("table9-fp32-size", "Table 9 (p. 76) vs Table 8 (p. 69)",
                           f"{row.printed_label} fp32 size (MB)",
                           float(row.size_fp32_mb), expected, ok,
                           f"Table 8 {own} M x {bytes_per_parameter} bytes; matches: {', '.join(matches) or 'none'}"))
    return out


def compute_table9_int8_ratios() -> pd.DataFrame:
    """Table 9's fp32 size / int8 size per row, with its range from the printed sizes' rounding.

    Returns:
        ``printed_label, model, size, size_fp32_mb, size_int8_mb, ratio, ratio_low, ratio_high``.
    """
    rows = []
    for row in _printed("quantization_sizes_table9.csv").itertuples(index=False):
        (f_lo, f_hi), (i_lo, i_hi) = _range_of(row.size_fp32_mb), _range_of(row.size_int8_mb)
        rows.append({"printed_label": row.printed_label, "model": row.model, "size": row.size,
                     "size_fp32_mb": float(row.size_fp32_mb), "size_int8_mb": float(row.size_int8_mb),
                     "ratio": compute_printed_value(row.size_fp32_mb) / compute_printed_value(row.size_int8_mb),
                     "ratio_low": f_lo / i_hi, "ratio_high": f_hi / i_lo})
    return pd.DataFrame(rows)


def check_table9_int8_factor() -> list[Erratum]:
    """§6.3.1: int8 quantization reduces "the memory size by a factor of approximately 4", against each Table 9 row."""
    claim = _text_value("section6.3.1-int8", "all models")
    return [Erratum("section6.3.1-int8", f"{claim.section} (p. {claim.page}) vs Table 9 (p. 76)",
                    f"{r.printed_label}: fp32 / int8 size", float(claim.value), r.ratio,
                    compute_within_printed_precision(claim.value, r.ratio, (r.ratio_low, r.ratio_high)),
                    f"{r.size_fp32_mb:g} MB / {r.size_int8_mb:g} MB")
            for r in compute_table9_int8_ratios().itertuples(index=False)]


def check_speedup_ranges() -> list[Erratum]:
    """The int8 speed-up range of §6.3.1 ("2-4") against the one of §6.4 ("2-3x"), bound by bound."""
    first = _text_values("section6.3.1-int8").set_index("item")
    second = _text_values("section6.4-speedup").set_index("item")
    out = []
    for item in ("speed-up low", "speed-up high"):
        a, b = first.loc[item], second.loc[item]
        out.append(Erratum("speedup-range", f"{a.section} (p. {a.page}) vs {b.section} (p. {b.page})",
                           f"int8 speed-up, {item.split()[-1]} bound", float(a.value), float(b.value),
                           compute_within_printed_precision(a.value, b.value), "both quoted from the literature"))
    return out


# --- all checks -----------------------------------------------------------------------------------------------------

_CHECKS: tuple[Callable[[], list[Erratum]], ...] = (
    check_table3_energy_and_emissions,
    check_table3_against_text,
    check_eq48_units,
    check_table4_conversion,
    check_jukebox_human_year,
    check_table5_pct_mos,
    check_inter_model_pareto_claims,
    check_waveflow_training_steps,
    check_section_5_1_1_parameters,
    check_diffwave_added_configuration,
    check_table7_quality_with_size,
    check_table8_energy_unit,
    check_table8_power_plausibility,
    check_section_6_4_gflops,
    check_table9_sizes,
    check_table9_int8_factor,
    check_speedup_ranges,
)


def compute_errata(only_inconsistent: bool = False) -> pd.DataFrame:
    """Every check's every comparison as one table (``check, location, item, printed, computed, consistent, note``).

    Args:
        only_inconsistent: keep only the rows where the printed and computed values disagree.
    """
    only_inconsistent = check_bool("only_inconsistent", only_inconsistent)
    records: list[Erratum] = []
    for check in _CHECKS:
        records.extend(check())
    table = pd.DataFrame([asdict(r) for r in records])
    return table[~table["consistent"]].reset_index(drop=True) if only_inconsistent else table


# --- the errata list ------------------------------------------------------------------------------------------------

def load_errata_list() -> pd.DataFrame:
    """The book's errata (``resources/errata.csv``): ``erratum, where, printed, compared_with, kind, likely_reading,
    source`` — fixed words typed from the thesis; :func:`compute_errata_table` adds the computed columns."""
    return read_resource_csv("errata.csv")


def _pick(records: list[Erratum], item: str) -> Erratum:
    found = [r for r in records if r.item == item]
    if len(found) != 1:
        raise ValueError(f"expected one comparison named {item!r}, found {len(found)}")
    return found[0]


def _shown(records: list[Erratum], item: str, fmt: str) -> tuple[str, bool]:
    """The comparison named ``item``: its other value formatted with ``fmt`` and whether it agrees."""
    record = _pick(records, item)
    return (fmt.format(record.computed) if fmt else str(record.computed)), record.consistent


def _table9_row(label: str) -> tuple[str, bool]:
    return _shown(check_table9_sizes(), f"{label} fp32 size (MB)", "{:.2f} MB")


def _params_row(model: str, size: str) -> tuple[str, bool]:
    record = [e for e in check_section_5_1_1_parameters() if e.item.startswith(f"{model} {size} ")][0]
    return _table8().loc[(model, size), "printed_params"], record.consistent


def _quality_row(model: str, from_size: str) -> tuple[str, bool]:
    row = compute_quality_with_size().set_index(["model", "from_size"]).loc[(model, from_size)]
    return f"{row.mos_from} → {row.mos_to}", not row.decreases


def _unit_row() -> tuple[str, bool]:
    fit = compute_energy_unit_fit()
    best = fit.sort_values("rows_in_band", ascending=False, kind="stable").iloc[0]
    return str(best.unit), best.unit == "mJ"


def _waveflow_steps_row() -> tuple[str, bool]:
    """The step count of r = 96 under the readings whose energy per step grows with size, against both printed."""
    kept = [r.item.split(":")[0] for r in check_waveflow_training_steps() if r.consistent]
    text = published.load_errata_text_values()
    text = text[(text["check"] == "waveflow-steps") & (text["quantity"] == "r=96")]
    steps = sorted({f"{v:g}M" for item, v in zip(text["item"], text["value"]) if item in kept})
    return ", ".join(steps), set(steps) == {f"{v:g}M" for v in text["value"]}


def _int8_row() -> tuple[str, bool]:
    rows = [r for r in check_table9_int8_factor() if r.item.startswith("WaveGrad")]
    return f"{max(r.computed for r in rows):.2f}", all(r.consistent for r in rows)


def _speedup_row() -> tuple[str, bool]:
    rows = check_speedup_ranges()
    return "-".join(f"{r.computed:g}" for r in rows), all(r.consistent for r in rows)


def _figure27_row(front: str) -> tuple[str, bool]:
    record = [e for e in check_inter_model_pareto_claims()
              if front in e.location and e.item.startswith("FloWaveNet")][0]
    return str(record.computed), record.consistent


_ROWS: dict[str, Callable[[], tuple[str, bool]]] = {
    "jukebox-gpus": lambda: _shown(check_table3_against_text(), "Jukebox GPU count", "{:g}"),
    "rave-hours": lambda: _shown(check_table3_against_text(), "RAVE training days", "{:.2f} days"),
    "flowavenet-hours": lambda: _shown(check_table3_against_text(), "FloWaveNet training days", "{:.2f} days"),
    "eq48-units": lambda: _shown(check_eq48_units(), "Jukebox kgCO2e", "{:,.1f}"),
    "jukebox-text-kg": lambda: _shown(check_table3_against_text(), "Jukebox kgCO2e quoted in the text", "{:g}"),
    "jukebox-human-year": lambda: _shown(check_jukebox_human_year(), "Jukebox kgCO2e / a human's yearly kgCO2e",
                                         "{:.2f}"),
    "table5-wavegan": lambda: _shown(check_table5_pct_mos(), "WaveGAN", "{:.3f}"),
    "figure27-training": lambda: _figure27_row("training"),
    "figure27-inference": lambda: _figure27_row("inference"),
    "waveflow-steps": _waveflow_steps_row,
    "table8-unit": _unit_row,
    "table8-waveglow-medium": lambda: _shown(check_table8_power_plausibility(),
                                             "waveglow medium: implied GPU power (W), E_gen in J", "{:.0f} W"),
    "section64-gflops": lambda: _shown(check_section_6_4_gflops(), "hifigan large GFLOPs per second of audio", "{:g}"),
    "table9-hifigan-medium": lambda: _table9_row("HiFi-GAN MEDIUM"),
    "table9-hifigan-small": lambda: _table9_row("HiFi-GAN SMALL"),
    "table9-wavegrad-medium": lambda: _table9_row("WaveGrad MEDIUM"),
    "table9-wavegrad-large": lambda: _table9_row("WaveGrad* LARGE"),
    "diffwave-added": lambda: _shown(check_diffwave_added_configuration(),
                                     "DiffWave configuration added by the thesis", ""),
    "quality-size-hifigan": lambda: _quality_row("hifigan", "small"),
    "quality-size-wavegrad": lambda: _quality_row("wavegrad", "medium"),
    "int8-factor": _int8_row,
    "speedup-range": _speedup_row,
    "params-hifigan-v1": lambda: _params_row("hifigan", "large"),
    "params-hifigan-v2": lambda: _params_row("hifigan", "small"),
    "params-wavegrad-base": lambda: _params_row("wavegrad", "medium"),
    "params-diffwave-base": lambda: _params_row("diffwave", "medium"),
    "params-diffwave-large": lambda: _params_row("diffwave", "large"),
    "params-waveflow-small": lambda: _params_row("waveflow", "small"),
    "params-waveflow-medium": lambda: _params_row("waveflow", "medium"),
    "params-waveflow-large": lambda: _params_row("waveflow", "large"),
}


def compute_errata_table() -> pd.DataFrame:
    """The book's errata: one row per erratum of ``resources/errata.csv``, compared and judged.

    Returns:
        ``erratum, where, printed, other`` (the value printed elsewhere or recomputed, as shown), ``compared_with``,
        ``within_printed_precision`` (bool), ``verdict`` (:data:`VERDICTS`), ``likely_reading``, ``source``; in the
        order of the CSV.

    Raises:
        ValueError: an erratum of the CSV without a computation here (or the reverse).
    """
    errata = load_errata_list()
    unknown, missing = set(errata["erratum"]) - set(_ROWS), set(_ROWS) - set(errata["erratum"])
    if unknown or missing:
        raise ValueError(f"errata.csv and greenaudio.errata disagree: no computation for {sorted(unknown)}, "
                         f"no row for {sorted(missing)}")
    others, within = zip(*(_ROWS[e]() for e in errata["erratum"]))
    errata.insert(3, "other", list(others))
    errata.insert(5, "within_printed_precision", [bool(w) for w in within])
    errata.insert(6, "verdict", [compute_verdict(w, k) for w, k in zip(within, errata["kind"])])
    return errata.drop(columns=["kind"])
