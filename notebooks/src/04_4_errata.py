# %% [markdown]
# # Errata: where the printed numbers disagree
#
# *All chapters of the thesis.*
#
# Recomputing the thesis's tables from their inputs, and comparing places that print the same quantity, shows where
# its printed numbers disagree with each other. This chapter lists each place, with the reading we think likely; the
# other chapters use the printed values, as the thesis did, and point here. Where a reading is only likely, the chapter
# says so.
#
# **How a verdict is reached.** A printed number stands for every value that rounds to it: "11.3 days" is anything from
# 11.25 to 11.35 days, "272 h" anything from 271.5 to 272.5 h. Every comparison therefore allows half a unit of the
# last printed digit of each printed value, and of the printed inputs of a recomputed one. A row is *consistent* when
# the two sides agree at that precision; *inconsistent* when two statements of the same quantity disagree; *suspect*
# when a printed value contradicts no other printed value but implies something implausible, such as a GPU drawing
# more than its maximum power. The comparisons are computed by `greenaudio.errata`; the words of the table (where,
# what is printed, what it is compared with, the likely reading) are typed from the thesis in the package's
# `errata.csv`, with section, page and sentence, and the numbers quoted from the running text in
# `errata_text_values.csv`.

COLAB

# %% [markdown]
# Parameters: `QUICK` has no effect here (every number is computed from the thesis's printed values), and `CHAPTER`
# names the folder the tables are saved to.

# %% tags=["parameters"]
QUICK = True
CHAPTER = "04-4-errata"

# %%
from greenaudio import carbon, errata, published, report

table = errata.compute_errata_table()
verdicts = table.verdict.value_counts()
_ = report.glue(
    n_errata=len(table),
    n_inconsistent=int(verdicts.get("inconsistent", 0)),
    n_suspect=int(verdicts.get("suspect", 0)),
    n_consistent=int(verdicts.get("consistent", 0)),
)

# %% [markdown]
# ## The errata
#
# The table has {glue:text}`n_errata` rows: {glue:text}`n_inconsistent` inconsistent, {glue:text}`n_suspect` suspect
# and {glue:text}`n_consistent` consistent. The consistent row, FloWaveNet's training time, looks like a disagreement
# and is not. The sections below give the numbers behind each row, in the thesis's order.

# %%
shown = table.assign(elsewhere=table.other, basis="Compared with " + table.compared_with,
                     reading="likely reading: " + table.likely_reading)
report.show_table(
    shown[["where", "printed", "elsewhere", "within_printed_precision", "verdict", "basis", "reading", "source"]],
    label="errata", chapter=CHAPTER, notes=["basis", "reading"],
    main=["where", "printed", "elsewhere", "within_printed_precision", "verdict"],
    columns={"where": "Where", "printed": "Printed", "elsewhere": "Elsewhere or recomputed",
             "within_printed_precision": "Within rounding?", "verdict": "Verdict",
             "basis": "Compared with", "reading": "Likely reading", "source": "Source"},
    caption="The errata of the thesis: each printed value, the value printed elsewhere or recomputed from other "
    "printed values, whether the two agree within half a unit of their last printed digits, and the verdict; what "
    "each is compared with, and its likely reading, are the numbered notes under the table.",
)

# %%
checks = errata.compute_errata()


def show(check: str | list[str], label: str, caption: str):
    rows = checks[checks.check.isin([check] if isinstance(check, str) else check)]
    # the location is the section's own (its heading names it): folded with the whole table
    return report.show_table(rows[["location", "item", "printed", "computed", "consistent", "note"]], label=label,
                             caption=caption, chapter=CHAPTER, main=["item", "printed", "computed", "consistent"],
                             formats={"computed": lambda v: (f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:.6g}")
                                      if isinstance(v, float) else str(v)})


# %% [markdown]
# ## Chapter 4: training costs and the inter-model study
#
# ### §4.2.1 against Table 3
#
# Table 3's own arithmetic is exact: every kWh and kgCO2e is reproduced from its GPU count, power and hours (Chapter
# 4.2). Three of its inputs are also stated in the text of §4.2.1.
#
# - **Jukebox's GPUs.** The text says the VQ-VAE was "trained for 3 days on 246 NVIDIA V100"; Table 3 uses 256. The
#   Jukebox paper reports 256 V100s, so 246 is a typo in the text, and Table 3's 256 GPUs, 5529.6 kWh and
#   2416.44 kgCO2e stand.
# - **RAVE's training time.** The text says 6 days; Table 3's 168 h are {glue:text}`rave_days:.0f` days. The thesis
#   does not say which is right. With 6 days, Table 3 would read 144 h, {glue:text}`rave_kwh_6_days:.0f` kWh and
#   {glue:text}`rave_kg_6_days:.2f` kgCO2e; Figure 27 uses 168 h, and RAVE is Pareto-optimal with either (lower
#   emissions can only keep it on the front).
# - **FloWaveNet's training time** agrees: 272 h are {glue:text}`flowavenet_days:.2f` days, which the text prints to
#   one decimal as 11.3.

# %%
rave_kwh = carbon.compute_worst_case_energy_kwh("TITAN V", 1, 6 * 24)
_ = report.glue(
    rave_days=checks.set_index("item").loc["RAVE training days", "computed"],
    flowavenet_days=checks.set_index("item").loc["FloWaveNet training days", "computed"],
    rave_kwh_6_days=rave_kwh,
    rave_kg_6_days=carbon.compute_emissions_kgco2e(rave_kwh),
)
show(["jukebox-gpus", "table3-hours"], "errata-hours",
     "Jukebox's GPU count and the training times of §4.2.1 (in days) against Table 3.")

# %% [markdown]
# ### Eq. 48 and §4.2.2.1's figures
#
# Eq. 48 multiplies the carbon intensity, 0.437 kgCO2e per kWh, by $g \times p_{max} \times t$. With $p_{max}$ in
# watts and $t$ in hours that product is in watt-hours, so the equation as printed gives grams: Jukebox's inputs give
# {glue:text}`eq48_jukebox:,.0f` where Table 3 prints 2416.44 kg. Table 3 divides by 1000, as it should; the equation
# lacks the division, and Table 3's values stand.
#
# §4.2.2.1 quotes Jukebox's emissions as 2416.5 kgCO2eq. Table 3 prints 2416.44 ($0.437 \times 5529.6 = 2416.435$),
# which would be 2416.4 at one decimal: 2416.44 stands. The same section finds Jukebox "almost on par with the
# emissions of a human being for a whole year". Table 4 puts a human's year at 4999.9 kgCO2e, so Jukebox's training
# is {glue:text}`jukebox_human_share:.0%` of it: about half, not on par.

# %%
eq48 = checks[checks.check == "eq48-units"].set_index("item")
_ = report.glue(
    eq48_jukebox=eq48.loc["Jukebox kgCO2e", "computed"],
    jukebox_human_share=checks.set_index("check").loc["jukebox-human-year", "computed"],
)
show(["eq48-units", "jukebox-text-kg", "jukebox-human-year"], "errata-eq48",
     "Eq. 48 as printed against Table 3, the kgCO2e §4.2.2.1 quotes, and Jukebox against a human's yearly emissions "
     "(Table 4).")

# %% [markdown]
# ### Table 5 and Figure 27
#
# §4.3.1 defines $\%\mathrm{MOS} = \mathrm{MOS}_M / \mathrm{MOS}_{GT}$. For WaveGAN the printed MOS give
# $3.9 / 2.3 =$ {glue:text}`wavegan_ratio:.2f`, while the printed %MOS, 0.59, is $2.3 / 3.9$: the row's two MOS values
# are swapped. Figure 27 uses 0.59, and so does this book. Had it used {glue:text}`wavegan_ratio:.2f`, WaveGAN would
# dominate {glue:text}`wavegan_dominates_training` on the training front, where its emissions are the lowest, but only
# {glue:text}`wavegan_dominates_inference` on the inference front, where RAVE and SING have fewer parameters.
#
# §4.3.1 also states that FloWaveNet is dominated "by SING and RAVE" in training, and that WaveGAN and FloWaveNet are
# both dominated by RAVE and SING in inference. With the printed %MOS, RAVE (0.71) cannot dominate FloWaveNet (0.85):
# SING alone dominates FloWaveNet on both fronts. The statement about WaveGAN holds, and so do the conclusions drawn
# from the figure: FloWaveNet is not optimal, RAVE and SING are.

# %%
counterfactual = errata.compute_figure27_dominance(
    {"WaveGAN": checks.set_index(["check", "item"]).loc[("table5-pct-mos", "WaveGAN"), "computed"]}
).set_index(["front", "model"])
_ = report.glue(
    wavegan_ratio=counterfactual.loc[("training", "WaveGAN"), "pct_mos"],
    wavegan_dominates_training=counterfactual.loc[("training", "WaveGAN"), "dominates"],
    wavegan_dominates_inference=counterfactual.loc[("inference", "WaveGAN"), "dominates"],
)
show("table5-pct-mos", "errata-table5", "Table 5's %MOS recomputed from its MOS columns, at the printed precision of "
     "all three.")

# %%
report.show_table(errata.compute_figure27_dominance(), label="errata-figure27", chapter=CHAPTER,
                  columns={"front": "Front", "pct_mos": "%MOS (printed)", "dominated_by": "Dominated by",
                           "dominates": "Dominates"},
                  caption="Who dominates whom on Figure 27's two fronts, from Table 3's kgCO2e (training), Table 5's "
                  "parameters (inference) and Table 5's printed %MOS.")

# %% [markdown]
# ### §4.3.2: training steps per WaveFlow configuration
#
# The text assigns 3M steps to "res. channels 64 and 96" and 2M to "res. channels 128 and 96", so r = 96 (WaveFlow 3)
# gets both. Under reading A (r = 96 trained for 3M steps) Table 6's training energy per million steps grows with the
# model size, as it must on the same hardware and batch; under reading B WaveFlow 3 would cost more per step than the
# larger WaveFlow 4. WaveFlow 3 was most likely trained for 3M steps, and "128 and 96" should read "128". The
# {doc}`WaveFlow study <04_3_waveflow_study>` times the steps of both configurations to check this.

# %%
show("waveflow-steps", "errata-waveflow-steps", "Table 6's E_train per million steps under both readings of §4.3.2.")

# %% [markdown]
# ## Chapter 5: the vocoder benchmark
#
# ### §5.1.1's parameter counts against Table 8
#
# §5.1.1 quotes twelve parameter counts, most of them from the original papers; Table 8 counts the thesis's own
# models. {glue:text}`n_params_agree` agree at the printed precision. The others differ by less than 1 % (the same
# configuration counted under two conventions), except WaveGrad's base:
#
# - HiFi-GAN V1 (13.92 M) and V2 (0.92 M), and WaveFlow's 5.91, 12.78 and 22.25 M (also in Table 6): Table 8's 13.94,
#   0.928, 5.95, 12.86 and 22.39 M are the counts with the weight-normalisation gains, as the
#   {doc}`models chapter <05_0_models>` reproduces them. At exactly 4 bytes per parameter, Table 9's 55.8 MB for
#   HiFi-GAN LARGE is 13.94 M (55.76 MB), not 13.92 M (55.68 MB, which would print as 55.7); since a file holds a
#   little more than its weights, this confirms Table 8 only weakly.
# - DiffWave's Base and Large (2.64 and 6.91 M in the paper) are 2.62 and 6.89 M in Table 8: 0.02 M fewer in both
#   sizes, under a convention neither states.
# - WaveGrad's base is 15 M in its paper and 17.12 M in Table 8: the FiLM layers of the thesis's code are larger than
#   the paper's (the models chapter counts both layouts).

# %%
params = checks[checks.check == "section5.1.1-params"]
_ = report.glue(n_params_agree=int(params.consistent.sum()))
show("section5.1.1-params", "errata-params", "Parameter counts (millions) quoted in §5.1.1 against Table 8's, both at "
     "their printed precision.")

# %% [markdown]
# ### DiffWave: which configuration the thesis added
#
# §5.1.1: "We use the two configurations provided in the original paper (Base 2.64M and Large 6.91M), and add our own
# *medium* configuration". In Table 8, MEDIUM (2.62 M) is within {glue:text}`diffwave_base_gap:.1%` of Base and LARGE
# (6.89 M) within {glue:text}`diffwave_large_gap:.1%` of Large, while SMALL (1.23 M) is within
# {glue:text}`count_allowance:.0%` of neither: the added configuration is SMALL, and MEDIUM is the paper's Base. The
# thesis's code agrees: its DiffWave files have 32 (small), 64 (medium, the paper's Base) and 128 (large) residual
# channels. Tables 7 to 9 mark no DiffWave row with the (*) of added configurations.

# %%
diffwave = errata.compute_diffwave_matches().set_index("size")
_ = report.glue(
    diffwave_base_gap=abs(diffwave.loc["medium", "relative_difference"]),
    diffwave_large_gap=abs(diffwave.loc["large", "relative_difference"]),
    count_allowance=errata.COUNT_ALLOWANCE,
)
report.show_table(diffwave.reset_index(), label="errata-diffwave", chapter=CHAPTER,
                  columns={"params_millions": "Parameters (M, Table 8)", "paper_configuration": "Paper configuration",
                           "relative_difference": "Difference to the closest paper count"},
                  formats={"relative_difference": "{:+.1%}"},
                  caption="Table 8's DiffWave sizes against the two configurations of the DiffWave paper (Base "
                  "2.64 M, Large 6.91 M, as §5.1.1 quotes them).")

# %% [markdown]
# ### §5.2.2: quality against size
#
# §5.2.2: "across all models, it appears that increasing the size of the architecture consistently increases the
# quality". Table 7 agrees for four of the six families, not for HiFi-GAN (SMALL 3.90, MEDIUM 3.59) and WaveGrad
# (MEDIUM 3.66, LARGE 3.59); both falls are larger than the printed rounding and than the ± intervals Table 7 prints.
# §5.3's own conclusion, that "small models can perform better than larger and more costly models", is the accurate
# summary.

# %%
report.show_table(errata.compute_quality_with_size(), label="errata-quality-size", chapter=CHAPTER,
                  columns={"from_size": "From", "to_size": "To", "mos_from": "MOS (from)", "mos_to": "MOS (to)",
                           "change": "Change", "decreases": "Falls beyond rounding?"},
                  formats={"change": "{:+.2f}"},
                  caption="Table 7's MOS from each size to the next larger one.")

# %% [markdown]
# ### Table 8: the unit of E_gen, and WaveGlow MEDIUM
#
# Table 8 prints $E_\mathrm{gen}$ in mJ for 100 s of generated audio (§5.2.3: 10 clips of 10 s; Figure 33's caption
# also says mJ). The GPU real-time factor says how long those 100 s took, so $E_\mathrm{gen} / (\mathrm{RTF} \times
# 100\,\mathrm{s})$ is the mean power. Read as mJ, it is {glue:text}`mj_power_min_mw:.0f` to
# {glue:text}`mj_power_max_mw:.0f` mW, a fraction of a watt, which no GPU running a neural network draws; read as
# joules, it is {glue:text}`j_power_min_w:.0f` to {glue:text}`j_power_max_w:.0f` W, between a tenth of the RTX A5000's
# {glue:text}`gpu_max_w:.0f` W maximum and that maximum for all rows but one. $E_\mathrm{gen}$ is in joules.
# (pyJoules, the thesis's tool, also counts the CPU and DRAM, §5.2.3.)
#
# The exception is WaveGlow MEDIUM: 496.72 J over $0.019 \times 100$ s is {glue:text}`waveglow_medium_w:.0f` W,
# against {glue:text}`waveglow_small_w:.0f` W for SMALL and {glue:text}`waveglow_large_w:.0f` W for LARGE, and above
# the GPU's maximum even at the printed values' most favourable rounding. MEDIUM also costs more than LARGE (283.07 J)
# with about a third of its GFLOPs (116.21 against 333.04) and a lower RTF (0.019 against 0.028). No other printed
# value contradicts 496.72, so it is suspect rather than refuted: read WaveGlow MEDIUM's $E_\mathrm{gen}$ as
# unreliable.

# %%
power = errata.compute_table8_implied_power()
fit = errata.compute_energy_unit_fit().set_index("unit")
by_config = power.set_index(["model", "size"])
_ = report.glue(
    mj_power_min_mw=fit.loc["mJ", "power_w_min"] * 1e3,
    mj_power_max_mw=fit.loc["mJ", "power_w_max"] * 1e3,
    j_power_min_w=fit.loc["J", "power_w_min"],
    j_power_max_w=fit.loc["J", "power_w_max"],
    gpu_max_w=fit.loc["J", "band_w_high"],
    waveglow_small_w=by_config.loc[("waveglow", "small"), "power_w"],
    waveglow_medium_w=by_config.loc[("waveglow", "medium"), "power_w"],
    waveglow_large_w=by_config.loc[("waveglow", "large"), "power_w"],
)
report.show_table(
    power.assign(power_range=[f"{lo:.0f}–{hi:.0f}" for lo, hi in zip(power.power_w_low, power.power_w_high)])[
        ["model", "size", "e_gen_printed", "rtf_gpu", "gflops_per_audio_s", "power_w", "power_range"]],
    label="errata-table8", chapter=CHAPTER,
    columns={"e_gen_printed": "E gen (printed)", "rtf_gpu": "RTF (GPU)", "gflops_per_audio_s": "GFLOPs per s",
             "power_w": "Power (W)", "power_range": "Rounding range (W)"},
    formats={"power_w": "{:.0f}", "rtf_gpu": "{:g}", "e_gen_printed": "{:g}"},
    caption="Mean power implied by Table 8's E_gen over the GPU time its RTF gives (100 s of audio), E_gen read as "
    "joules (GFLOPs per second of audio as printed); read as mJ, every power is 1000 times smaller.",
)

# %% [markdown]
# ## Chapter 6: quantization and embedded hardware
#
# ### Table 9's sizes against Table 8's parameter counts
#
# An fp32 file holds about 4 bytes per parameter, and a little more (names, weight-normalisation gains, buffers): a
# Table 9 size agrees with a Table 8 count when it lies between 4 bytes × the count and
# {glue:text}`file_overhead:.0%` more, each at its printed precision. {glue:text}`n_table9_agree` of 18 rows agree.
#
# - **HiFi-GAN.** The row labelled MEDIUM (3.8 MB, 1 MB in int8) has the size of the small model (4 × 0.928 M =
#   3.71 MB), and the row labelled SMALL (5.9 MB, 1.5 MB in int8) that of the medium one (4 × 1.46 M = 5.84 MB). The
#   sizes grow down the table, as for every other model; the SMALL and MEDIUM labels are swapped.
# - **WaveGrad.** 16.8 MB matches SMALL (4.18 M); 42.5 MB ({glue:text}`wavegrad_medium_millions:.1f` M parameters)
#   matches no Table 8 size; the LARGE row's 68.5 MB is 4 × 17.12 M, Table 8's MEDIUM. Table 9's three sizes are
#   those of the three WaveGrad files of the thesis's code (small, medium and large: 4.18, 10.62 and 17.12 M, counted
#   in the {doc}`models chapter <05_0_models>`). Table 8's MEDIUM, 17.12 M, is the paper's Base, which §5.1.1 calls the
#   thesis's medium and which the code stores as its default configuration (and, in an identical copy, as its large
#   file). No file of the code has Table 8's LARGE count, 33.91 M.

# %%
sizes = checks[checks.check == "table9-fp32-size"]
_ = report.glue(
    file_overhead=errata.FILE_OVERHEAD,
    n_table9_agree=int(sizes.consistent.sum()),
    wavegrad_medium_millions=sizes.set_index("item").loc["WaveGrad MEDIUM fp32 size (MB)", "printed"] / 4,
)
show("table9-fp32-size", "errata-table9", "Table 9's fp32 sizes against 4 bytes x Table 8's parameters; the note "
     "names every size of the same model whose count the printed size matches.")

# %% [markdown]
# ### §6.3.1: the factor of 4, and the speed-ups
#
# §6.3.1: int8 quantization "is able to reduce the memory size by a factor of approximately 4". Table 9's fp32 / int8
# ratios are {glue:text}`int8_ratio_min:.2f` to {glue:text}`int8_ratio_max:.2f` for the other 15 models, within
# "approximately 4" (3.5 to 4.5 at its printed precision), but {glue:text}`wavegrad_ratio_min:.2f` to
# {glue:text}`wavegrad_ratio_max:.2f` for WaveGrad, whose int8 files are {glue:text}`wavegrad_int8_share_min:.0%` to
# {glue:text}`wavegrad_int8_share_max:.0%` of its fp32 files: most of WaveGrad's weights were not stored in 8 bits.
# The {doc}`quantization chapter <06_quantization>` measures what int8 gives WaveGrad here.
#
# §6.3.1 also says quantization "is usually believed to speed up inference by a factor of 2-4 (Krishnamoorthi,
# 2018)"; §6.4 says it "allows for a 2-3x reduction in inference time". The two ranges differ; both quote the
# literature, and the thesis measured no speed-up (§6.3.1: its quantized models could not be run). The quantization
# chapter measures one.

# %%
ratios = errata.compute_table9_int8_ratios()
wavegrad = ratios[ratios.model == "wavegrad"]
others = ratios[ratios.model != "wavegrad"]
_ = report.glue(
    int8_ratio_min=others.ratio.min(), int8_ratio_max=others.ratio.max(),
    wavegrad_ratio_min=wavegrad.ratio.min(), wavegrad_ratio_max=wavegrad.ratio.max(),
    wavegrad_int8_share_min=(1 / wavegrad.ratio).min(), wavegrad_int8_share_max=(1 / wavegrad.ratio).max(),
)
report.show_table(ratios[["printed_label", "size_fp32_mb", "size_int8_mb", "ratio", "ratio_low", "ratio_high"]],
                  label="errata-int8", chapter=CHAPTER,
                  columns={"printed_label": "Row (as printed)", "size_fp32_mb": "fp32 (MB)",
                           "size_int8_mb": "int8 (MB)", "ratio": "fp32 / int8", "ratio_low": "Lowest from rounding",
                           "ratio_high": "Highest from rounding"},
                  formats={"ratio": "{:.2f}", "ratio_low": "{:.2f}", "ratio_high": "{:.2f}"},
                  caption="Table 9's size reduction by int8 quantization, with its range from the printed sizes' "
                  "rounding.")

# %% [markdown]
# ### §6.4: GFLOPs on a Raspberry Pi
#
# §6.4 quotes HiFi-GAN large at 40.47 GFLOPs per second of audio; Table 8 prints 40.57, most likely the right one. On a
# Raspberry Pi 4B (9.92 GFLOPS, Table 10) that is {glue:text}`hifigan_rpi_s:.2f` s per second of audio, so the text's
# "~ 4 seconds" holds either way. MelGAN medium's 7.02 GFLOPs match Table 8.

# %%
rpi4_gflops = published.load_embedded_boards().set_index("board").loc["RPi 4B", "flops"] / 1e9
quoted = checks[checks.check == "section6.4-gflops"].set_index("item")
_ = report.glue(hifigan_rpi_s=quoted.loc["hifigan large GFLOPs per second of audio", "computed"] / rpi4_gflops)
show("section6.4-gflops", "errata-section64", "GFLOPs quoted in §6.4 against Table 8, both as printed.")

# %% [markdown]
# ## Every comparison
#
# The errata table has one row per erratum; the checks behind it compare every printed value they concern. Eq. 48 as
# printed disagrees with all seven rows of Table 3, the mJ unit with all 18 rows of Table 8, while Table 3's and
# Table 4's own arithmetic agrees everywhere. This table counts them all.

# %%
summary = checks.groupby("check", as_index=False, sort=False).agg(
    location=("location", lambda s: "; ".join(dict.fromkeys(s))),
    compared=("consistent", "size"),
    inconsistent=("consistent", lambda s: int((~s).sum())),
)
report.show_table(summary, label="errata-summary", chapter=CHAPTER,
                  columns={"check": "Check", "compared": "Values compared", "inconsistent": "Disagreeing"},
                  caption="Every check of greenaudio.errata, how many values it compares and how many disagree at "
                  "the printed precision.")
