"""Every chapter notebook runs under papermill (quick mode) and writes the tables and figures it promises.

The regenerated tables are read back from the CSV files the notebooks saved and compared with the thesis's printed
numbers (exactly, at the printed precision) or with the computed erratum.
"""

import json

import pandas as pd
import pytest

from conftest import ROOT, toc_notebooks

# Tests that read executed notebooks are marked `notebooks` by conftest (they use the `executed_notebooks` fixture);
# the two static checks of the committed .ipynb files below stay in the fast tier.


def test_each_notebook_has_a_literal_parameters_cell():
    import ast

    for nb_path in toc_notebooks():
        cells = json.loads(nb_path.read_text())["cells"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, nb_path.name
        source = "".join(params[0]["source"])
        # papermill cannot parse a parameter line with a trailing comment ("Unable to parse line ...")
        code_lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert not [line for line in code_lines if "#" in line], f"{nb_path.name}: inline comment in parameters"
        tree = ast.parse(source)
        for node in tree.body:
            assert isinstance(node, ast.Assign), f"{nb_path.name}: parameters cell holds only assignments"
            ast.literal_eval(node.value)  # raises if not a literal
        names = {t.id for node in tree.body for t in node.targets}
        assert "QUICK" in names, nb_path.name
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), f"{nb_path.name} has outputs"


def test_notebook_sources_are_in_sync():
    """notebooks/src/*.py (jupytext percent) regenerate the committed .ipynb files."""
    import jupytext

    for src in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        committed = json.loads((ROOT / "notebooks" / f"{src.stem}.ipynb").read_text())
        regenerated = jupytext.reads(src.read_text().replace("\nCOLAB\n", "\n"), fmt="py:percent")
        committed_sources = [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                             for c in committed["cells"]
                             if not {"remove-cell", "exercise"} & set(c["metadata"].get("tags", []))]
        assert committed_sources == [c.source for c in regenerated.cells], src.name


def test_literature_outputs(executed_notebooks):
    folder = executed_notebooks / "04-1-literature"
    counts = pd.read_csv(folder / "metric-counts.csv").set_index("metric")["papers"]
    assert counts["MOS"] == 16 and counts["FLOP"] == 0 and counts["RTF"] == 12
    assert len(pd.read_csv(folder / "table-1.csv")) == 18
    assert len(pd.read_csv(folder / "table-11.csv")) == 19
    assert (folder / "figure-26.png").stat().st_size > 0 and (folder / "figure-26.svg").exists()
    # §4.1's reading of Figure 26 (MOS most used, RTF for efficiency, no FLOPs, some training times): all hold
    # against the column sums of Table 11 counted by hand (MOS 16, next quality metric 5, RTF 12, FLOP 0, TrainTime 5).
    claims = pd.read_csv(folder / "claims-4-1.csv")
    assert list(claims.columns) == ["claim", "section", "thesis", "this_build", "holds"]
    assert len(claims) == 6 and claims.holds.all()
    assert claims.this_build.tolist()[1:3] == ["MOS (16 papers)", "at most 5 papers each"]


def test_carbon_outputs(executed_notebooks):
    folder = executed_notebooks / "04-2-carbon"
    table3 = pd.read_csv(folder / "table-3.csv")
    assert list(table3.columns) == ["model", "hardware", "gpu_count", "power_w", "hours", "energy_kwh", "printed_kwh",
                                    "emissions_kgco2e", "printed_kgco2e"]
    assert (table3.energy_kwh.round(1) == table3.printed_kwh).all()
    assert (table3.emissions_kgco2e.round(2) == table3.printed_kgco2e).all()
    table4 = pd.read_csv(folder / "table-4.csv")
    assert (table4.kgco2e.round(1) == table4.printed_kgco2e).all()
    sensitivity = pd.read_csv(folder / "sensitivity-long.csv")
    thesis = sensitivity[(sensitivity.grid == "thesis-world-2018") & (sensitivity.pue == "none")]
    assert thesis.emissions_kgco2e.round(2).tolist() == table3.printed_kgco2e.tolist()
    assert (sensitivity.emissions_kgco2e > 0).all()
    assert (folder / "figure-sensitivity.png").exists()
    # §4.2.2.1: Table 3 reproduced, ranges 24-5529.6 kWh (holds) and 10.49-2416.5 kg (the text's 2416.5 is not
    # Table 3's 2416.44 at one decimal: does not hold), SING's 52 kWh estimate and the higher 64.8 kWh prediction.
    claims = pd.read_csv(folder / "claims-4-2.csv")
    assert claims.holds.tolist() == [True, True, False, True, True]
    assert claims.this_build[4] == "+25%"  # 64.8 / 52 - 1 = 0.246


def test_pareto_outputs(executed_notebooks):
    folder = executed_notebooks / "04-3-pareto"
    table5 = pd.read_csv(folder / "table-5.csv").set_index("model")
    assert table5.pct_mos_computed.round(2).to_dict() == {"FloWaveNet": 0.85, "RAVE": 0.71, "SING": 0.92,
                                                          "WaveGAN": 1.70}
    inter = pd.read_csv(folder / "inter-model-optimality.csv").set_index("model")
    assert inter.optimal_training.to_dict() == {"FloWaveNet": False, "RAVE": True, "SING": True, "WaveGAN": True}
    assert inter.optimal_inference.to_dict() == {"FloWaveNet": False, "RAVE": True, "SING": True, "WaveGAN": False}
    wf = pd.read_csv(folder / "waveflow-optimality.csv").set_index("model")
    assert not wf.loc["WF3", "optimal_training"] and wf.loc["WF3", "optimal_generation"]
    assert wf.optimal_generation.all()
    for name in ("figure-25", "figure-27", "figure-28"):
        assert (folder / f"{name}.png").exists() and (folder / f"{name}.svg").exists()
    # Who dominates whom, worked out by hand from Tables 3, 5 and 6 (the printed %MOS).
    assert inter.inference.to_dict() == {"FloWaveNet": "dominated by SING", "RAVE": "optimal", "SING": "optimal",
                                         "WaveGAN": "dominated by RAVE, SING"}
    assert wf.training.to_dict() == {"WF1": "optimal", "WF2": "optimal", "WF3": "dominated by WF4", "WF4": "optimal",
                                     "WF5": "optimal"}
    assert wf.parameters["WF1"] == "dominated by WF2"  # same 5.91 M parameters, lower MOS (4.26 < 4.32)
    # §4.3: optimal sets and WaveGAN's dominators hold; "FloWaveNet dominated by SING and RAVE" (training and
    # inference) does not: RAVE's printed %MOS 0.71 is below FloWaveNet's 0.85.
    claims = pd.read_csv(folder / "claims-4-3.csv")
    assert claims.holds.tolist() == [True, True, False, True, True, False, True, True, True]


def test_errata_outputs(executed_notebooks):
    summary = pd.read_csv(executed_notebooks / "04-4-errata" / "errata-summary.csv").set_index("check")
    assert summary.loc["table5-pct-mos", "inconsistent"] == 1
    assert summary.loc["table3-kwh", "inconsistent"] == 0
    assert summary.loc["jukebox-gpus", "inconsistent"] == 1
    listed = pd.read_csv(executed_notebooks / "04-4-errata" / "errata.csv")
    # 30 errata: 28 inconsistent, WaveGlow MEDIUM's E_gen suspect (261 W > 230 W), FloWaveNet's 11.3 days consistent
    assert listed.verdict.value_counts().to_dict() == {"inconsistent": 28, "suspect": 1, "consistent": 1}


# Exact parameter counts (weight-norm gains counted) of three presets, from instantiating the public reference
# generators: what the executed notebook must have counted.
PARAMS_WITH_GAINS = {("melgan", "small"): 1_030_786, ("waveflow", "small"): 5_950_164, ("diffwave", "large"): 6_885_315}


def test_models_outputs(executed_notebooks):
    folder = executed_notebooks / "05-0-models"
    from greenaudio import vocoders

    params = pd.read_csv(folder / "zoo-parameters.csv")
    by_display = {vocoders.entry(n).display_name: n for n in vocoders.names()}
    params = params.assign(model=params.display_name.map(by_display)).set_index(["model", "size"])
    assert len(params) == 18 and (params.params_with_gains >= params.params_without_gains).all()
    for key, count in PARAMS_WITH_GAINS.items():
        assert params.loc[key, "params_with_gains"] == count, key
    procedures = pd.read_csv(folder / "zoo-procedures.csv")
    assert len(procedures) == 10 and (procedures.audio_samples == procedures.expected_samples).all()
    assert (procedures.audio_samples > 0).all() and (procedures.seconds > 0).all()
    assert set(procedures.model) == {"melgan", "hifigan", "wavegrad", "diffwave", "waveflow", "waveglow"}


def test_models_section_5_1_1_claims(executed_notebooks):
    """§5.1.1's quoted counts against the counted models: the GANs' are the models' (rounded or truncated at the
    printed precision), WaveFlow's are its paper's (5.91 M where the model counts 5,950,164: 5.95 M)."""
    claims = pd.read_csv(executed_notebooks / "05-0-models" / "claims-5-0.csv")
    assert len(claims) == 12 and list(claims.columns) == ["claim", "section", "thesis", "this_build", "holds"]
    by_claim = claims.set_index(claims.claim.str.split(":").str[0])
    assert by_claim.loc["MelGAN small", "this_build"] == pytest.approx(PARAMS_WITH_GAINS[("melgan", "small")] / 1e6)
    assert by_claim.loc["MelGAN small", "holds"] and by_claim.loc["MelGAN small", "thesis"] == 1.03
    assert by_claim.loc["WaveFlow small", "this_build"] == pytest.approx(5.950164)
    assert not by_claim.loc["WaveFlow small", "holds"]
    assert by_claim.loc["HiFi-GAN large (the paper's V1)", "thesis"] == 13.92


def test_models_speedups_are_the_shipped_rows_ratios(executed_notebooks):
    """The speed-up table of the models page against the shipped speed file, read here with pandas alone."""
    shipped = pd.read_csv(ROOT / "lib" / "greenaudio" / "resources" / "speed" / "inference_prepared_cpu.csv",
                          keep_default_na=False, na_values=["", "nan"]).dropna(subset=["time_s"])
    shown = pd.read_csv(executed_notebooks / "05-0-models" / "zoo-prepared-speedups.csv")
    assert len(shown) == len(shipped.groupby(["model", "size", "duration_s"]))
    for (model, size, seconds), group in shipped.groupby(["model", "size", "duration_s"]):
        row = shown[(shown.model == model) & (shown["size"] == size) & (shown.duration_s.round(3) == round(seconds, 3))]
        plain = group[group.variant == "plain"].time_s.item()
        for variant, column in (("prepared-torch", "speedup_torch"), ("prepared-onnxruntime", "speedup_onnxruntime")):
            assert row[column].item() == pytest.approx(plain / group[group.variant == variant].time_s.item())
        assert row.best_fraction_of_peak.item() == pytest.approx(group.roofline_fraction.max())


def test_models_speed_targets_are_the_shipped_rows_ratios(executed_notebooks):
    """The targets table of the models page against the shipped speed file, read here with pandas alone."""
    shipped = pd.read_csv(ROOT / "lib" / "greenaudio" / "resources" / "speed" / "inference_prepared_cpu.csv",
                          keep_default_na=False, na_values=["", "nan"])
    timed = shipped.dropna(subset=["time_s"])
    shown = pd.read_csv(executed_notebooks / "05-0-models" / "zoo-prepared-targets.csv")
    targets = {"melgan": 1.2, "hifigan": 1.2, "waveglow": 1.2, "diffwave": 1.5, "wavegrad": 1.5, "waveflow": 1.5}
    expected = 0
    for (model, size, seconds), group in timed.groupby(["model", "size", "duration_s"]):
        plain = group[group.variant == "plain"]
        prepared = group[group.variant != "plain"]
        if plain.empty or prepared.empty:
            continue
        expected += 1
        at = shown["audio (s)"].round(3) == round(seconds, 3)
        row = shown[(shown.model == model) & (shown["size"] == size) & at]
        assert len(row) == 1, (model, size, seconds)
        speedup = plain.time_s.item() / prepared.time_s.min()
        assert row["speed-up"].item() == pytest.approx(speedup, rel=1e-9)
        assert bool(row["met"].item()) == (speedup >= targets[model])
        ceiling = plain.time_s.item() * plain.peak_gflops_per_s.item() / prepared.gflops.min()
        assert row["ceiling"].item() == pytest.approx(ceiling, rel=1e-9)
    assert len(shown) == expected > 0


def test_models_speed_table_is_the_shipped_measurement_reshaped(executed_notebooks):
    """What the notebook wrote (zoo-cpu-speed.csv) against the shipped records of greenaudio.measure it read."""
    from greenaudio import measure

    records = [r for f in measure.shipped_record_files() for r in measure.load_records(f)]
    table = executed_notebooks / "05-0-models" / "zoo-cpu-speed.csv"
    if not records:  # nothing shipped yet (scripts/bench_vocoders.py --ship): the chapter shows no table
        assert not table.exists()
        return
    shown = pd.read_csv(table)
    assert len(shown) == len(records)
    for r in records:
        row = shown[(shown.model == r.model) & (shown["size"] == r.size) & (shown.machine == measure.machine_slug(r))]
        assert len(row) == 1, (r.model, r.size)
        if r.ok:
            assert row.rtf_median.item() == pytest.approx(sorted(r.times_s)[len(r.times_s) // 2] / r.audio_s_per_run,
                                                          rel=1e-9)


def test_waveflow_study_outputs(executed_notebooks):
    """Chapter 4.3.2 live: counts against the reference implementations' (facts), plain/fast FLOPs = h/2 by
    construction of the two reverses (row i of h recomputes i rows: h(h-1)/2 against h-1), the printed Table 6."""
    folder = executed_notebooks / "04-3-waveflow-study"
    params = pd.read_csv(folder / "waveflow-parameters.csv").set_index("configuration")
    assert params.params[["WF1", "WF3", "WF4"]].tolist() == [5_950_164, 12_857_300, 22_385_876]
    flops = pd.read_csv(folder / "waveflow-flops.csv").set_index("configuration")
    ratio = flops.gflops_per_audio_s_plain / flops.gflops_per_audio_s_fast
    for config, h in (("WF1", 8), ("WF2", 16), ("WF5", 16)):
        assert ratio[config] == pytest.approx(h / 2, rel=0.01), config
    printed = pd.read_csv(folder / "table-6-printed.csv")
    assert len(printed) == 5 and 407.7 in printed.values and 1011.2 in printed.values
    assert (folder / "figure-28-live.png").stat().st_size > 10_000
    # the claims on Table 6's own numbers, by hand: WF4 (644.8 kWh, MOS 4.38) dominates WF3 (725.4 kWh, 4.34) in
    # training; E_gen and MOS both rise from WF1 to WF5 (all optimal, WF3 optimal on both inference fronts, E_gen
    # rising with size in the 9 pairs of different sizes); the gap is wider on the energy axis for 1 of the 4 pairs
    # on a log scale (WF1-WF2) and 2 of 4 as a share of the range: not most pairs
    claims = pd.read_csv(folder / "claims-4-3-2.csv")
    table6 = claims[claims.claim.str.endswith("(Table 6)")].set_index("claim")
    assert table6.holds.tolist() == [True, True, True, False, True]
    assert table6.this_build.tolist() == ["dominated by WF4", "2 of 2", "5 of 5", "1 of 4 (log), 2 of 4 (range)",
                                          "9 of 9 pairs"]
    assert len(claims) == 10 and claims.holds.dtype == bool
