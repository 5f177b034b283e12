"""Published numbers: the thesis's tables and the papers behind them, as data files with their sources.

Used by: every notebook. Each loader returns a fresh DataFrame read from ``greenaudio/resources/``; every row carries a
``source`` column (paper, table or section). Values are exactly as printed; anything derived is computed elsewhere
(:mod:`greenaudio.carbon`, :mod:`greenaudio.errata`) so that disagreements stay visible.
"""

from __future__ import annotations

import pandas as pd

from ._resources import read_resource_csv

__all__ = ["QUALITY_METRICS", "EFFICIENCY_METRICS", "METRIC_NAMES", "load_census", "load_metric_occurrences",
           "compute_metric_counts", "load_training_runs", "load_familiar_emissions", "load_sing_check",
           "load_inter_model_mos", "load_waveflow_configs", "load_vocoder_quality", "load_vocoder_costs",
           "load_quantization_sizes", "load_embedded_boards", "load_errata_text_values"]

#: Quality metrics of the census (thesis §4.1), in Table 11's column order.
QUALITY_METRICS = ("MOS", "Recon", "LL", "IS", "FID", "NDB")
#: Efficiency metrics of the census (thesis §4.1), in Table 11's column order.
EFFICIENCY_METRICS = ("RTF", "Param", "TrainTime", "Size", "FLOP")
#: Long names of the census's metric columns.
METRIC_NAMES = {
    "MOS": "Mean opinion score (or other perceptual test)",
    "Recon": "Reconstruction distance",
    "LL": "Log-likelihood",
    "IS": "Inception score",
    "FID": "Fréchet (Inception/Audio) distance",
    "NDB": "Number of statistically-different bins",
    "RTF": "Real-time factor (or other inference time)",
    "Param": "Number of parameters",
    "TrainTime": "Training time",
    "Size": "Memory size",
    "FLOP": "Floating-point operations",
}


def _bool_columns(df: pd.DataFrame, columns) -> pd.DataFrame:
    for c in columns:
        df[c] = df[c].astype(str).str.lower().map({"true": True, "false": False})
        if df[c].isna().any():
            raise ValueError(f"column {c!r} of a bundled table holds a value other than True/False")
    return df


def load_publications() -> pd.DataFrame:
    """The 19 papers of the census: ``model, authors, year, title, venue``."""
    return read_resource_csv("publications.csv")


def load_census() -> pd.DataFrame:
    """Thesis Table 1 (§2.4): the 18 models, date, generation strategy, speech/music, plus each model's publication."""
    census = _bool_columns(read_resource_csv("census_table1.csv"), ["speech", "music"])
    return census.merge(load_publications(), on="model", how="left", validate="one_to_one")


def load_metric_occurrences() -> pd.DataFrame:
    """Thesis Appendix A, Table 11: which of 11 metrics each of 19 papers reports (booleans), plus the publication."""
    occ = _bool_columns(read_resource_csv("metric_occurrences_table11.csv"), QUALITY_METRICS + EFFICIENCY_METRICS)
    return occ.merge(load_publications(), on="model", how="left", validate="one_to_one")


def compute_metric_counts(occurrences: pd.DataFrame | None = None) -> pd.DataFrame:
    """Number of papers reporting each metric (thesis Figure 26), with its category (quality / efficiency)."""
    occ = load_metric_occurrences() if occurrences is None else occurrences
    rows = []
    for category, metrics in (("quality", QUALITY_METRICS), ("efficiency", EFFICIENCY_METRICS)):
        for metric in metrics:
            rows.append(
                {"metric": metric, "name": METRIC_NAMES[metric], "category": category, "papers": int(occ[metric].sum())}
            )
    return pd.DataFrame(rows)


def load_training_runs() -> pd.DataFrame:
    """Thesis Table 3 inputs and printed outputs: hardware, GPU count, hours; printed kWh and kgCO2e; the §4.2.1 text."""
    return read_resource_csv("training_costs_table3.csv")


def load_familiar_emissions() -> pd.DataFrame:
    """Thesis Table 4 (from Strubell et al. 2019): familiar emissions in lbsCO2e, with the printed kgCO2e."""
    return read_resource_csv("familiar_emissions_table4.csv")


def load_sing_check() -> pd.DataFrame:
    """Thesis §4.2.2.1: SING's estimated (52 kWh) and Carbontracker-predicted (64.8 kWh) training energy."""
    return read_resource_csv("sing_energy_check.csv")


def load_inter_model_mos() -> pd.DataFrame:
    """Thesis Table 5: MOS of the ground truth and of the model in each paper, printed %MOS, parameters (millions)."""
    return read_resource_csv("inter_model_mos_table5.csv")


def load_waveflow_configs() -> pd.DataFrame:
    """Thesis Table 6: five WaveFlow configurations (h, r), parameters (M), MOS, E_train (kWh), E_gen (Wh)."""
    return read_resource_csv("waveflow_table6.csv")


def load_vocoder_quality() -> pd.DataFrame:
    """Thesis Table 7: MOS (± CI), D_STFT, IS, AM, FID of the 18 vocoder configurations and the ground truth."""
    return read_resource_csv("vocoder_quality_table7.csv")


def load_vocoder_costs() -> pd.DataFrame:
    """Thesis Table 8: parameters, GFLOPs per second of audio, E_gen (as printed, unit as printed), RTF GPU / CPU."""
    return read_resource_csv("vocoder_cost_table8.csv")


def load_quantization_sizes() -> pd.DataFrame:
    """Thesis Table 9: model sizes (MB) in fp32 and int8, rows in the printed order."""
    return read_resource_csv("quantization_sizes_table9.csv")


def load_embedded_boards() -> pd.DataFrame:
    """Thesis Table 10: Arduino and Raspberry Pi boards: clock, FLOPS, RAM, drive (printed strings and numbers)."""
    return read_resource_csv("embedded_boards_table10.csv")


def load_errata_text_values() -> pd.DataFrame:
    """Numbers the thesis states in its running text (not in a table) that the errata compare with its tables.

    Columns: ``check`` (the :mod:`greenaudio.errata` check using the row), ``item``, ``quantity``, ``value`` (a
    number here; :mod:`greenaudio.errata` reads the file as text to keep the printed digits), ``unit``, ``section``,
    ``page`` (the page of the sentence, placed from the table of contents and the lists of tables and figures),
    ``quote`` (the sentence it comes from) and ``source``.
    """
    return read_resource_csv("errata_text_values.csv")
