"""Computed checks of the thesis's printed numbers against each other (the book's errata).

Used by: notebooks/04_4_errata.ipynb (and the chapter notebooks that point to it).

Every check recomputes a printed number from other printed numbers (or compares two places that print the same
quantity) and returns :class:`Erratum` records. Nothing is corrected silently: the book shows the printed value, the
computed one, and says which reading is consistent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import carbon, published
from ._resources import read_resource_csv
from .pareto import compute_dominators, compute_pct_mos
from .validation import check_bool, check_positive_int, check_positive_number

__all__ = [
    "Erratum",
    "check_table3_energy_and_emissions",
    "check_table3_against_text",
    "check_table4_conversion",
    "check_table5_pct_mos",
    "check_inter_model_pareto_claims",
    "check_waveflow_training_steps",
    "check_table8_energy_unit",
    "check_section_6_4_gflops",
    "check_table9_sizes",
    "compute_errata",
]


@dataclass(frozen=True)
class Erratum:
    """One computed comparison.

    Attributes:
        check: short identifier of the check (e.g. ``"table5-pct-mos"``).
        location: where the printed number is (table, section).
        item: the row or quantity compared.
        printed: the value as printed.
        computed: the value recomputed from other printed values (or printed elsewhere).
        consistent: whether printed and computed agree at the printed precision.
        note: how ``computed`` was obtained and what the disagreement suggests.
    """

    check: str
    location: str
    item: str
    printed: float | str
    computed: float | str
    consistent: bool
    note: str


def _text_values(check: str) -> pd.DataFrame:
    """The running-text numbers a check uses (``resources/errata_text_values.csv``, with section and page)."""
    table = published.load_errata_text_values()
    return table[table["check"] == check].reset_index(drop=True)


def _agrees(printed: float, computed: float, decimals: int) -> bool:
    return bool(abs(round(computed, decimals) - printed) < 0.5 * 10.0 ** (-decimals) + 1e-12)


def check_table3_energy_and_emissions() -> list[Erratum]:
    """Table 3: kWh = g x p_max x t / 1000 and kgCO2e = 0.437 x kWh, recomputed from the printed inputs."""
    runs = published.load_training_runs()
    costs = carbon.compute_training_costs(runs, grid="thesis-world-2018", pue="none")
    out = []
    for run, cost in zip(runs.itertuples(index=False), costs.itertuples(index=False)):
        out.append(
            Erratum(
                "table3-kwh", "Table 3", run.model, float(run.printed_kwh), cost.energy_kwh,
                _agrees(float(run.printed_kwh), cost.energy_kwh, 1),
                f"{run.gpu_count} x {cost.power_w:g} W x {run.hours:g} h / 1000",
            )
        )
        out.append(
            Erratum(
                "table3-kgco2e", "Table 3", run.model, float(run.printed_kgco2e), cost.emissions_kgco2e,
                _agrees(float(run.printed_kgco2e), cost.emissions_kgco2e, 2),
                "0.437 kgCO2e/kWh x computed kWh (Eq. 48)",
            )
        )
    return out


def check_table3_against_text() -> list[Erratum]:
    """Table 3's GPU counts and hours against the training details given in the text of §4.2.1."""
    runs = published.load_training_runs().set_index("model")
    out = []
    jukebox = runs.loc["Jukebox"]
    text_kwh = carbon.compute_worst_case_energy_kwh(jukebox.hardware, int(jukebox.text_gpu_count), float(jukebox.hours))
    out.append(
        Erratum(
            "jukebox-gpus", "§4.2.1 vs Table 3", "Jukebox GPU count", int(jukebox.gpu_count), int(jukebox.text_gpu_count),
            False,
            f"the text says {int(jukebox.text_gpu_count)} V100, Table 3 uses {int(jukebox.gpu_count)}; with "
            f"{int(jukebox.text_gpu_count)} GPUs the estimate would be {text_kwh:.1f} kWh and "
            f"{carbon.compute_emissions_kgco2e(text_kwh):.2f} kgCO2e instead of {jukebox.printed_kwh:g} kWh and "
            f"{jukebox.printed_kgco2e:g} kgCO2e",
        )
    )
    for text in _text_values("table3-hours").itertuples(index=False):
        row = runs.loc[text.item]
        hours_from_text = float(text.value) * 24.0
        out.append(
            Erratum(
                "table3-hours", "§4.2.1 vs Table 3", f"{text.item} training hours", float(row.hours), hours_from_text,
                bool(abs(hours_from_text - float(row.hours)) < 1e-9),
                f"text ({text.section}, p. {text.page}): {text.value:g} {text.unit} = {hours_from_text:g} h",
            )
        )
    quoted = _text_values("jukebox-text-kg").iloc[0]
    kwh = float(runs.loc["Jukebox"].printed_kwh)
    kg = carbon.compute_emissions_kgco2e(kwh)
    out.append(
        Erratum(
            "jukebox-text-kg", f"{quoted.section} text vs Table 3", "Jukebox kgCO2e quoted in the text",
            float(quoted.value), kg, _agrees(float(quoted.value), kg, 1),
            f"the text (p. {quoted.page}) quotes {quoted.value:g} kgCO2e; {kg / kwh:g} x {kwh:g} kWh = {kg:.4f}, "
            f"which rounds to {kg:.1f}",
        )
    )
    return out


def check_table4_conversion() -> list[Erratum]:
    """Table 4: kgCO2e = lbsCO2e x 0.45359237."""
    out = []
    for row in published.load_familiar_emissions().itertuples(index=False):
        kg = carbon.lbs_to_kg(float(row.lbsco2e))
        out.append(
            Erratum("table4-kg", "Table 4", row.consumption, float(row.printed_kgco2e), kg,
                    _agrees(float(row.printed_kgco2e), kg, 1), f"{row.lbsco2e} lbs x 0.45359237 kg/lbs")
        )
    return out


def check_table5_pct_mos() -> list[Erratum]:
    """Table 5: %MOS = MOS_M / MOS_GT (thesis §4.3.1), recomputed at the printed two decimals."""
    out = []
    for row in published.load_inter_model_mos().itertuples(index=False):
        ratio = compute_pct_mos(row.mos_m, row.mos_gt)
        ok = _agrees(row.printed_pct_mos, ratio, 2)
        note = "MOS_M / MOS_GT"
        if not ok:
            note += (
                f" = {ratio:.2f} (above 1: the model would beat the ground truth); the printed "
                f"{row.printed_pct_mos} equals MOS_GT / MOS_M = {compute_pct_mos(row.mos_gt, row.mos_m):.2f}: the two MOS columns "
                "appear swapped for this row"
            )
        out.append(Erratum("table5-pct-mos", "Table 5", row.model, float(row.printed_pct_mos), ratio, ok, note))
    return out


def _inter_model_table() -> pd.DataFrame:
    runs = carbon.compute_training_costs(published.load_training_runs())
    mos = published.load_inter_model_mos()
    table = mos.merge(runs[["model", "emissions_kgco2e"]], on="model", how="left")
    return table


def check_inter_model_pareto_claims() -> list[Erratum]:
    """§4.3.1's statements about who dominates whom in Figure 27, recomputed with the printed %MOS."""
    table = _inter_model_table()
    names = table["model"].tolist()
    out = []
    for front, column, claim in (
        ("training", "emissions_kgco2e", {"FloWaveNet": "RAVE, SING"}),
        ("inference", "params_millions", {"WaveGAN": "RAVE, SING", "FloWaveNet": "RAVE, SING"}),
    ):
        doms = compute_dominators(table[[column, "printed_pct_mos"]].to_numpy(), ["min", "max"])
        for model, claimed in claim.items():
            found = ", ".join(sorted(names[i] for i in doms[names.index(model)]))
            out.append(
                Erratum(
                    "figure27-dominance", f"§4.3.1 ({front} front of Figure 27)", f"{model} dominated by",
                    claimed, found, found == claimed,
                    f"dominators recomputed from Table 3 kgCO2e / Table 5 parameters and printed %MOS; RAVE's %MOS "
                    f"({table.set_index('model').loc['RAVE', 'printed_pct_mos']}) is below FloWaveNet's "
                    f"({table.set_index('model').loc['FloWaveNet', 'printed_pct_mos']})",
                )
            )
    return out


def check_waveflow_training_steps() -> list[Erratum]:
    """§4.3.2 gives steps per residual-channel count with 96 listed twice (3M and 2M); test both readings.

    Reading A: r = 64 and 96 -> 3M steps, r = 128 -> 2M, r = 256 -> 1M. Reading B: r = 64 -> 3M, r = 96 and 128 -> 2M.
    Under each reading, training energy per million steps should grow with the model size (same hardware, batch).
    """
    wf = published.load_waveflow_configs()
    text = _text_values("waveflow-steps")
    readings = {
        reading: {int(q.split("=")[1]): float(v) for q, v in zip(rows["quantity"], rows["value"])}
        for reading, rows in text.groupby("item", sort=True)
    }
    out = []
    printed = "r = 64 and 96: 3M; r = 128 and 96: 2M; r = 256: 1M"
    for name, steps in readings.items():
        per_m = [row.e_train_kwh / steps[int(row.r)] for row in wf.itertuples(index=False)]
        monotone = bool(np.all(np.diff(per_m) >= 0))
        out.append(
            Erratum(
                "waveflow-steps", "§4.3.2 / Table 6", f"{name}: E_train per million steps (kWh)",
                printed,
                ", ".join(f"{v:.1f}" for v in per_m), monotone,
                "increasing with model size" if monotone else "not increasing with model size (WF3 costs more per "
                "step than the larger WF4)",
            )
        )
    return out


def check_table8_energy_unit(reference_seconds_of_audio: float = 100.0) -> list[Erratum]:
    """Table 8's E_gen (printed in mJ per 100 s of audio) against its GPU real-time factor.

    Generating 100 s of audio at a GPU RTF r takes ``100 r`` seconds; the implied average power is E_gen / (100 r),
    compared with the maximum power of the thesis's GPU (RTX A5000, ``resources/hardware.csv``).

    Args:
        reference_seconds_of_audio: the audio duration E_gen refers to (in s of audio; 100 in Table 8).
    """
    reference_seconds_of_audio = check_positive_number("reference_seconds_of_audio", reference_seconds_of_audio)
    gpu = "RTX A5000"
    max_w = float(read_resource_csv("hardware.csv").set_index("name").loc[gpu, "max_power_w"])
    costs = published.load_vocoder_costs()
    out = []
    for row in costs.itertuples(index=False):
        seconds = row.rtf_gpu * reference_seconds_of_audio
        watts_if_mj = row.e_gen_printed * 1e-3 / seconds
        out.append(
            Erratum(
                "table8-egen-unit", "Table 8", f"{row.model} {row.size}: implied GPU power (W) if E_gen is in mJ",
                row.e_gen_printed, watts_if_mj, bool(watts_if_mj > 1.0),
                f"{row.e_gen_printed} mJ over {seconds:.2f} s gives {watts_if_mj:.3f} W, far below any GPU's idle "
                f"power; read as joules it gives {row.e_gen_printed / seconds:.0f} W"
                + (f" (within the {gpu}'s {max_w:g} W maximum)" if row.e_gen_printed / seconds <= max_w else
                   f" (above the {gpu}'s {max_w:g} W maximum: the whole machine, or another inconsistency)"),
            )
        )
    return out


def check_section_6_4_gflops() -> list[Erratum]:
    """§6.4 quotes GFLOPs of MelGAN medium and HiFi-GAN large; compare with Table 8 and recompute the seconds."""
    costs = published.load_vocoder_costs().set_index(["model", "size"])
    rpi4 = published.load_embedded_boards().set_index("board").loc["RPi 4B", "flops"] / 1e9
    out = []
    text = _text_values("section6.4-gflops")
    for item, rows in text.groupby("item", sort=False):
        model, size = item.split()
        values = rows.set_index("quantity")["value"]
        quoted = float(values["GFLOPs per second of audio"])
        quoted_seconds = float(values["seconds on an RPi 4B per second of audio"])
        table = float(costs.loc[(model, size), "gflops_per_audio_s"])
        out.append(
            Erratum(
                "section6.4-gflops", "§6.4 vs Table 8", f"{model} {size} GFLOPs per second of audio", quoted, table,
                bool(abs(quoted - table) < 1e-9),
                f"seconds per second of audio on an RPi 4B ({rpi4:g} GFLOPS): text {quoted_seconds:g}, "
                f"recomputed from Table 8 {table / rpi4:.2f}",
            )
        )
    return out


def check_table9_sizes(bytes_per_parameter: int = 4) -> list[Erratum]:
    """Table 9's fp32 sizes against Table 8's parameter counts x 4 bytes (MB = 1e6 bytes).

    Args:
        bytes_per_parameter: storage of one parameter (in bytes; 4 for fp32).
    """
    bytes_per_parameter = check_positive_int("bytes_per_parameter", bytes_per_parameter)
    sizes = published.load_quantization_sizes()
    params = published.load_vocoder_costs().set_index(["model", "size"])["params_millions"]
    out = []
    for row in sizes.itertuples(index=False):
        expected = float(params.loc[(row.model, row.size)]) * bytes_per_parameter
        ok = abs(expected - row.size_fp32_mb) / expected < 0.05
        out.append(
            Erratum(
                "table9-fp32-size", "Table 9 vs Table 8", f"{row.printed_label} fp32 size (MB)", row.size_fp32_mb,
                expected, bool(ok),
                "Table 8 parameters x 4 bytes" + ("" if ok else _table9_mismatch_note(row, params, bytes_per_parameter)),
            )
        )
    return out


def _table9_mismatch_note(row, params: pd.Series, bytes_per_parameter: int) -> str:
    """Explain a Table 9 row that does not match its own model's Table 8 parameter count."""
    same_model = params.loc[row.model]
    closest = min(same_model.index, key=lambda s: abs(float(same_model[s]) * bytes_per_parameter - row.size_fp32_mb))
    text = f"; does not match this row's Table 8 count ({float(params.loc[(row.model, row.size)]):g} M)"
    if closest != row.size:
        text += f", but matches the {closest} configuration's ({float(same_model[closest]):g} M)"
    elif row.model == "wavegrad":
        text += f"; {row.size_fp32_mb / bytes_per_parameter:.2f} M parameters, the thesis code's {row.size} WaveGrad"
    return text


def compute_errata(only_inconsistent: bool = False) -> pd.DataFrame:
    """All checks as one table (``check, location, item, printed, computed, consistent, note``).

    Args:
        only_inconsistent: keep only the rows where the printed and computed values disagree.
    """
    only_inconsistent = check_bool("only_inconsistent", only_inconsistent)
    records: list[Erratum] = []
    for check in (
        check_table3_energy_and_emissions,
        check_table3_against_text,
        check_table4_conversion,
        check_table5_pct_mos,
        check_inter_model_pareto_claims,
        check_waveflow_training_steps,
        check_table8_energy_unit,
        check_section_6_4_gflops,
        check_table9_sizes,
    ):
        records.extend(check())
    table = pd.DataFrame([asdict(r) for r in records])
    return table[~table["consistent"]].reset_index(drop=True) if only_inconsistent else table
