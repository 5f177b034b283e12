"""The WaveFlow intra-model study of thesis §4.3.2 (Table 6, Figure 28), live: cost measured, quality trained.

Used by: notebooks/04_3_waveflow_study (the chapter); :mod:`greenaudio.orchestration.waveflow_study` (the mini
training study behind ``greenaudio waveflow-study``) reads its protocols and writes the folder read here.

The thesis takes five WaveFlow configurations (Ping et al. 2020), prints their parameters and MOS (from the paper),
the training energy ``E_train`` it *predicted* with Carbontracker (one epoch x number of epochs, 4 TITAN V, batch 8,
3M/2M/1M steps) and the energy ``E_gen`` it *measured* on one TITAN V for 10 clips x 10 s at 22.05 kHz (data:
:func:`greenaudio.published.load_waveflow_configs`). This module recomputes every cost column with the zoo's
WaveFlow (``greenaudio.vocoders.load("waveflow", "wf3")``):

1. parameters (both weight-norm conventions) and GFLOPs per second of audio of the plain and the fast reverse
   (:func:`compute_parameter_table`, :func:`compute_flops_table`);
2. ``E_gen`` with the measurement harness (:func:`measure_generation_energy`): on a CPU without energy counters it
   is *estimated* (CodeCarbon's CPU process rule; the record says so and carries the constants);
3. ``E_train`` by the thesis's method (:func:`time_training_steps`, :func:`predict_training_energy`): a few real
   training steps are timed, extrapolated linearly to the paper's step counts (as Carbontracker extrapolates its
   first epoch), and converted to the thesis's setting (TITAN V board power and FP32 peak, Carbontracker's PUE);
   :func:`resolve_step_reading` decides the §4.3.2 step-count erratum from the measured per-step costs;
4. quality after an equal mini budget (:data:`STUDY_PROTOCOLS`; trained, scored and shipped by
   :func:`greenaudio.orchestration.waveflow_study.run_study`) under ``resources/waveflow_study/<protocol>/`` with a
   sha256 manifest (:func:`load_study_results`, :func:`verify_study_manifest`);
5. Figure 28 live (:func:`compute_fronts`, :func:`plot_figure28`; a quality is maximised or, like D_STFT,
   minimised: :data:`QUALITY_SENSE`) and the thesis's three statements computed (:func:`compute_statements`);
6. the chapter's panels and facts, computed from the tables above (:func:`figure28_panels`,
   :func:`compute_statement_tables`, :func:`compute_fronts_overview`, :func:`load_mini_study`,
   :func:`compute_mini_study_ranking`, ...); the chapter writes the sentences.

The 22.05 kHz front end (:data:`WAVEFLOW_PAPER_MEL`): the paper's LJSpeech features are 80 mel bands of 22.05 kHz
audio with FFT 1024, window 1024, hop 256; the zoo's (thesis Chapter 5, :data:`greenaudio.vocoders.THESIS_MEL`) are
80 bands of 16 kHz audio with FFT 2048, hop 256, 0–8 kHz. The network is the same (hop 256, 80 mel channels): at
22.05 kHz one second of audio is 22,050 samples (86.1 frames) instead of 16,000 (62.5 frames), so every cost per
second of audio is 22050 / 16000 = 1.378 times the 16 kHz one. The cost measurements use random normalised mels
(the cost of WaveFlow does not depend on the mel's values), so only the rate matters for them; the mini training
uses the zoo's 16 kHz corpus and front end unchanged (same corpus, crops and seed as the zoo's mini protocol).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import carbon, errata, pareto, published
from .._resources import read_resource_csv
from ..files import CONFIG_MANIFEST_COLUMNS, verify_folder
from ..validation import check_choice, check_finite_number, check_non_negative_int, check_positive_int
from .zoo import PROTOCOLS

__all__ = ["CONFIGURATIONS", "PAPER_SAMPLE_RATE", "WAVEFLOW_PAPER_MEL", "EGEN_PROTOCOLS", "TrainingSetting",
           "THESIS_TRAINING_SETTING", "TrainingStepTiming", "StudyProtocol", "STUDY_PROTOCOLS", "check_configurations",
           "load_configuration", "load_step_readings", "load_gpu_peak", "compute_parameter_table",
           "compute_flops_table", "measure_generation_energy", "compute_generation_table", "time_training_steps",
           "time_training_grid", "predict_training_energy", "resolve_step_reading", "get_study_protocol",
           "default_study_dir", "STUDY_MANIFEST_COLUMNS", "read_scores", "load_study_results", "verify_study_manifest",
           "thesis_table", "compute_study_table", "FRONTS", "compute_fronts", "compute_statements", "plot_figure28",
           "QUALITY_SENSE", "PANEL_THESIS", "PANEL_LIVE", "PANEL_TRAINED", "choose_step_reading", "load_mini_study",
           "figure28_panels", "compute_statement_tables", "compute_fronts_overview"]

#: The five configurations of Table 6 (``greenaudio.vocoders`` presets), in the thesis's order.
CONFIGURATIONS = ("wf1", "wf2", "wf3", "wf4", "wf5")
#: LJSpeech's and the WaveFlow paper's sampling rate (in Hz); the thesis's E_gen protocol is 10 x 10 s at this rate.
PAPER_SAMPLE_RATE = 22_050
_CARBONTRACKER_PUE = "uptime-2018"  # 1.58, the PUE carbontracker multiplies every measurement by (pue.csv)


def _paper_mel():
    from ..vocoders.mel import MelConfig

    return MelConfig(sample_rate=PAPER_SAMPLE_RATE, n_fft=1024, hop_length=256, win_length=1024, n_mels=80,
                     f_min=0.0, f_max=8000.0)


#: The WaveFlow paper's front end (22.05 kHz, FFT 1024, window 1024, hop 256, 80 bands up to 8 kHz).
WAVEFLOW_PAPER_MEL = _paper_mel()


# -- configurations and bad input ---------------------------------------------------------------------------------
def _table6() -> pd.DataFrame:
    wf = published.load_waveflow_configs()
    wf["config"] = wf["label"].str.lower()
    return wf


def _valid_pairs() -> str:
    return ", ".join(f"{row.label} (h={int(row.h)}, r={int(row.r)})" for row in _table6().itertuples(index=False))


def check_configuration(config: Any) -> str:
    """The canonical name (``"wf3"``) of a Table 6 configuration; ``"WF3"``, ``" wf3 "`` are accepted.

    Raises:
        ValueError: a name outside WF1–WF5, listing the valid ones with their (h, r).
    """
    try:
        return check_choice("configuration", config, CONFIGURATIONS)
    except ValueError:
        raise ValueError(f"configuration {config!r} is not one of the five WaveFlow configurations of Table 6; valid: "
                         f"{_valid_pairs()} (case-insensitive)") from None


def check_configurations(configs: Iterable[Any] | None) -> list[str]:
    """Canonical names of several configurations (``None``: all five), each checked before any work starts."""
    if configs is None:
        return list(CONFIGURATIONS)
    if isinstance(configs, str):
        configs = [configs]
    names = [check_configuration(c) for c in configs]
    if not names:
        raise ValueError(f"no configuration given; valid: {_valid_pairs()}")
    return list(dict.fromkeys(names))


def configuration_config(config: str, sample_rate: int = PAPER_SAMPLE_RATE, n_flows: int | None = None):
    """The model config of a Table 6 configuration at ``sample_rate`` Hz (hop 256, 80 mels), optionally with
    ``n_flows`` flows instead of its 8 (a copy with the same layers per flow, for counts and timings), unbuilt."""
    from .. import vocoders

    config = check_configuration(config)
    sample_rate = check_positive_int("sample_rate", sample_rate)
    cfg = vocoders.config_for("waveflow", config)
    if sample_rate != cfg.sample_rate:
        cfg = vocoders.config_for("waveflow", config, sample_rate=sample_rate)
    if n_flows is not None:
        cfg = cfg.replace(size="custom", n_flows=check_positive_int("n_flows", n_flows))
    return cfg


def load_configuration(config: str, sample_rate: int = PAPER_SAMPLE_RATE, n_flows: int | None = None):
    """A freshly initialised WaveFlow of a Table 6 configuration at ``sample_rate`` Hz (hop 256, 80 mels); with
    ``n_flows``, a copy with that many flows (:func:`configuration_config`)."""
    from .. import vocoders

    return vocoders.build(configuration_config(config, sample_rate, n_flows))


def load_step_readings() -> dict[str, dict[int, float]]:
    """The two readings of §4.3.2's step counts, ``{reading: {r: million steps}}`` (data: the errata's running-text
    values, ``errata_text_values.csv``, check ``waveflow-steps``)."""
    text = published.load_errata_text_values()
    text = text[text["check"] == "waveflow-steps"]
    return {reading: {int(q.split("=")[1]): float(v) for q, v in zip(rows["quantity"], rows["value"])}
            for reading, rows in text.groupby("item", sort=True)}


def load_gpu_peak(name: str = "TITAN V") -> dict[str, Any]:
    """FP32 peak throughput of a GPU (``resources/waveflow_study_hardware.csv``, with its source)."""
    table = read_resource_csv("waveflow_study_hardware.csv")
    name = check_choice("gpu", name, table["name"].tolist())
    row = table.set_index("name").loc[name]
    return {"name": name, "peak_fp32_flops": float(row.peak_fp32_tflops) * 1e12, "source": str(row.source)}


# -- 1. parameters and FLOPs --------------------------------------------------------------------------------------
def compute_parameter_table(configs: Iterable[str] | None = None) -> pd.DataFrame:
    """Parameters of each configuration counted on the zoo's model beside the printed ones.

    Columns: ``params`` (with weight-norm gains) and ``params_without_wn_gains``; ``paper_millions`` (Ping et al.,
    as printed in Table 6 of the thesis); ``thesis_table8_millions`` (Table 8 prints WF1, WF3 and WF4 as WaveFlow
    small/medium/large; empty otherwise); ``matches_paper`` says which convention rounds to the paper's figure.
    """
    from ..vocoders import count_parameters

    configs = check_configurations(configs)
    wf = _table6().set_index("config")
    t8 = published.load_vocoder_costs()
    t8 = t8[t8.model == "waveflow"].set_index("size")["params_millions"]
    table8_size = {"wf1": "small", "wf3": "medium", "wf4": "large"}
    rows = []
    for c in configs:
        model = load_configuration(c, 16_000)
        plus, minus = count_parameters(model, True), count_parameters(model, False)
        paper = float(wf.loc[c, "params_millions"])
        match = [name for name, n in (("with gains", plus), ("without gains", minus)) if round(n / 1e6, 2) == paper]
        rows.append({"configuration": wf.loc[c, "label"], "h": int(wf.loc[c, "h"]), "r": int(wf.loc[c, "r"]),
                     "params": plus, "params_without_wn_gains": minus, "paper_millions": paper,
                     "thesis_table8_millions": t8.get(table8_size.get(c), np.nan) if c in table8_size else np.nan,
                     "matches_paper": ", ".join(match) or "neither"})
    return pd.DataFrame(rows)


def compute_flops_table(configs: Iterable[str] | None = None, *, frames: int = 1,
                        sample_rate: int = PAPER_SAMPLE_RATE, reverses: Sequence[str] = ("fast", "plain"),
                        direct: bool = False) -> pd.DataFrame:
    """GFLOPs per second of audio of the whole inference (every flow, every row) for each reverse.

    Counted with :func:`greenaudio.measure.count_flops` on one clip of ``frames`` mel frames (both reverses cost a
    fixed number of FLOPs per output sample, so the figure per second of audio does not depend on ``frames``), on a
    model prepared for inference (weight norm removed, conditioning fused), at ``sample_rate``.

    By default (``direct=False``) the count runs on a copy of the configuration with one flow and is extrapolated
    exactly to its 8 flows: every flow has the same layers and runs the same operators, so
    ``FLOPs(n) = FLOPs(mel upsampler) + n x FLOPs(one flow)``, the upsampler being counted on its own (an 8 times
    cheaper count; ``direct=True`` counts the 8-flow model itself; the tests check that both agree).

    Returns:
        one row per configuration: ``gflops_per_audio_s_<reverse>`` for each reverse, their ratio
        ``plain_over_fast`` when both are counted, and ``flops_method``.
    """
    import torch

    from ..measure import FLOPS_NOTE, count_flops

    configs = check_configurations(configs)
    frames = check_positive_int("frames", frames)
    reverses = [check_choice("reverse", r, ("fast", "plain")) for r in reverses]
    from .. import vocoders

    rows = []
    for c in configs:
        full = configuration_config(c, sample_rate)  # the 8-flow model is built only for a direct count
        n_flows = full.n_flows
        model = vocoders.build(full) if direct else load_configuration(c, sample_rate, n_flows=1)
        model.prepare_for_inference()
        mel = torch.rand(1, full.n_mels, frames, generator=torch.Generator().manual_seed(0))
        audio_s = frames * full.hop_length / full.sample_rate
        upsampler = 0 if direct else count_flops(lambda: model._conditioning(mel)).flops
        row: dict[str, Any] = {"configuration": c.upper()}
        for reverse in reverses:
            gen = torch.Generator().manual_seed(0)
            counted = count_flops(lambda: model.generate(mel, generator=gen, reverse=reverse), audio_s=audio_s).flops
            flops = counted if direct else upsampler + n_flows * (counted - upsampler)
            row[f"gflops_per_audio_s_{reverse}"] = flops / 1e9 / audio_s
        if {"fast", "plain"} <= set(reverses):
            row["plain_over_fast"] = row["gflops_per_audio_s_plain"] / row["gflops_per_audio_s_fast"]
        row["sample_rate"] = full.sample_rate
        row["flops_method"] = FLOPS_NOTE + ("" if direct else "; counted on a 1-flow copy plus the mel "
                                            "upsampler, extrapolated linearly to the model's 8 flows")
        rows.append(row)
    return pd.DataFrame(rows)


# -- 2. generation energy -----------------------------------------------------------------------------------------
def _egen_protocols():
    from ..measure import Protocol

    return {
        # the thesis's: 10 clips x 10 s at 22.05 kHz (hours per configuration on one CPU thread; meant for a GPU)
        "thesis": Protocol(n_clips=10, clip_duration_s=10.0, sample_rate=PAPER_SAMPLE_RATE, warmup=1, repeats=3),
        # CI: one clip of 0.01 s (1 mel frame, 256 samples): WF5 needs minutes of one CPU thread per second of audio
        "quick": Protocol(n_clips=1, clip_duration_s=0.01, sample_rate=PAPER_SAMPLE_RATE, warmup=0, repeats=1,
                          flop_clip_s=0.01, idle_window_s=0.0),
    }


#: E_gen protocols: ``"thesis"`` (10 clips x 10 s at 22.05 kHz, 1 warm-up, 3 timed runs) and ``"quick"``.
EGEN_PROTOCOLS = _egen_protocols()


def measure_generation_energy(configs: Iterable[str] | None = None, protocol: Any = "quick", *,
                              device: str = "cpu", threads: int | None = None, **benchmark_kwargs: Any) -> list:
    """``E_gen`` of each configuration with :func:`greenaudio.measure.benchmark_model` (fast reverse, sigma 1).

    Args:
        configs: configurations (default: all five).
        protocol: a name of :data:`EGEN_PROTOCOLS` or a :class:`greenaudio.measure.Protocol` (its ``sample_rate``
            is the model's rate).
        device: ``"cpu"`` or ``"cuda[:i]"``. On a CPU without readable counters the energy is estimated
            (CodeCarbon's CPU process rule), on a GPU measured with NVML where available; each record says which.
        threads: torch threads during the measurement (``None``: the protocol's setting).
        **benchmark_kwargs: passed on (``energy_mode``, ``hardware``, ...).

    Returns:
        the :class:`greenaudio.measure.BenchmarkRecord` of each configuration (``size`` = ``"wf1"`` ...).
    """
    from .. import measure

    configs = check_configurations(configs)
    if isinstance(protocol, str):
        protocol = EGEN_PROTOCOLS[check_choice("protocol", protocol, list(EGEN_PROTOCOLS))]
    if not isinstance(protocol, measure.Protocol):
        raise ValueError(f"protocol must be one of {list(EGEN_PROTOCOLS)} or a greenaudio.measure.Protocol, "
                         f"got {type(protocol).__name__}")
    measure.check_device(device)
    if threads is not None:
        protocol = protocol.replace(threads=check_positive_int("threads", threads))
    records = []
    for c in configs:
        model = load_configuration(c, protocol.sample_rate)
        records.append(measure.benchmark_model(model, name="waveflow", size=c, protocol=protocol, device=device,
                                               with_flops=False, **benchmark_kwargs))
    return records


def compute_generation_table(records: Sequence[Any]) -> pd.DataFrame:
    """E_gen per 100 s of audio of each record (J and Wh) beside Table 6's TITAN V value (Wh, data), with the ratio
    and the method of each number (``energy_method``; the printed values are the thesis's NVML measurements)."""
    from ..measure import energy_method_label

    wf = _table6().set_index("config")
    rows = []
    for rec in records:
        c = check_configuration(rec.size)
        wh = rec.e_gen_j_per_100_audio_s / carbon.J_PER_KWH * 1000.0
        printed = float(wf.loc[c, "e_gen_wh"])
        rows.append({"configuration": c.upper(), "device": rec.device, "audio_s_per_run": rec.audio_s_per_run,
                     "rtf_median": rec.rtf_median, "e_gen_j_per_100_audio_s": rec.e_gen_j_per_100_audio_s,
                     "e_gen_wh_per_100_audio_s": wh, "table6_titan_v_wh": printed, "ratio_to_table6": wh / printed,
                     "energy_method": rec.energy_method, "how": energy_method_label(rec)})
    return pd.DataFrame(rows)


# -- 3. training energy by the thesis's method -------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingSetting:
    """The setting a training-energy prediction is converted to (default: the thesis's, §4.3.2).

    Attributes:
        gpu: hardware-catalogue name (board power from ``hardware.csv``, FP32 peak from
            ``waveflow_study_hardware.csv``).
        n_gpus: GPUs (4 TITAN V); with ideal data parallelism the energy does not depend on it, the days do.
        batch_size: clips per step (8, §4.3.2).
        segment_samples: samples per training clip. The thesis does not state it; 16,000 is the segment length of
            the public PyTorch WaveFlow/WaveGlow recipes (an assumption, shown with the results).
        pue: the PUE preset Carbontracker multiplies every measurement by (``"uptime-2018"``, 1.58).
        efficiency: fraction of the FP32 peak the GPUs sustain while drawing their board power (1.0: the ideal
            bound; the ratio printed / predicted is then the inefficiency the thesis's numbers imply).
    """

    gpu: str = "TITAN V"
    n_gpus: int = 4
    batch_size: int = 8
    segment_samples: int = 16_000
    pue: str = _CARBONTRACKER_PUE
    efficiency: float = 1.0

    def __post_init__(self) -> None:
        carbon.get_hardware(self.gpu)
        check_positive_int("n_gpus", self.n_gpus)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("segment_samples", self.segment_samples)
        carbon.get_pue(self.pue)
        check_finite_number("efficiency", self.efficiency, min_value=0.0, max_value=1.0, min_inclusive=False)

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.segment_samples


#: §4.3.2: 4 TITAN V, batch 8, Carbontracker (PUE 1.58); segment 16,000 samples (assumed), ideal efficiency.
THESIS_TRAINING_SETTING = TrainingSetting()


@dataclass(frozen=True)
class TrainingStepTiming:
    """Real training steps of one configuration, timed.

    Attributes:
        config: ``"wf1"`` ... ``"wf5"``.
        batch_size, crop_frames, hop_length: the timed steps' shape; ``samples_per_step = batch x crop x hop``.
        steps_timed: timed steps (after ``warmup`` untimed ones).
        cpu_s_per_step: process CPU time per step (in s, all threads), median over the timed steps.
        wall_s_per_step: wall time per step (in s), median.
        flops_per_step: FLOPs of one step (forward + backward, ``torch.utils.flop_counter``; element-wise
            operations and the optimiser not counted).
        threads, device, cpu_model, torch_version: where it ran.
        flows_timed: ``None`` when the configuration itself was timed; else the flows of the copy that was timed
            (its CPU and wall times are scaled to the configuration's flows by the counted FLOPs:
            ``cpu_s_per_step = cpu_s(copy) x flops_per_step / flops(copy)``).
    """

    config: str
    batch_size: int
    crop_frames: int
    hop_length: int
    steps_timed: int
    cpu_s_per_step: float
    wall_s_per_step: float
    flops_per_step: float
    threads: int
    device: str = "cpu"
    cpu_model: str = ""
    torch_version: str = ""
    flows_timed: int | None = None

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.crop_frames * self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"samples_per_step": self.samples_per_step}


def _count_step_flops(model, audio, mel) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model.training_loss(audio, mel)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def _flow_flops(model, audio, mel) -> tuple[float, float]:
    """FLOPs of one training step (forward and backward, ``torch.utils.flop_counter``; the optimiser's element-wise
    update is not counted) of a 1-flow copy of ``model`` (``model`` itself when it has one flow) and of a 2-flow copy:
    every flow has the same layers, so ``FLOPs(n) = f1 + (n - 1) x (f2 - f1)`` exactly."""
    from .. import vocoders

    one = model if model.config.n_flows == 1 else vocoders.build(model.config.replace(size="custom", n_flows=1))
    f1 = _count_step_flops(one, audio, mel)
    return f1, _count_step_flops(vocoders.build(model.config.replace(size="custom", n_flows=2)), audio, mel)


def time_training_steps(config: str, *, batch_size: int = 1, crop_frames: int = 1, steps: int = 1, warmup: int = 1,
                        threads: int = 1, seed: int = 0, flows: int | None = None) -> TrainingStepTiming:
    """Time real optimisation steps (NLL forward, backward, gradient clipping, Adam) of one configuration.

    The batch is random audio (N(0, 0.1^2)) with random normalised mels: the cost of a WaveFlow step does not depend
    on the values. After ``warmup`` untimed steps, ``steps`` steps are timed (process CPU time and wall time,
    median). The FLOPs of one step (forward and backward) are counted apart, on copies with 1 and 2 flows
    extrapolated exactly to the model's 8 (``FLOPs(n) = FLOPs(rest) + n x FLOPs(one flow)``).

    ``flows`` (the chapter's quick mode: 1): time a copy with that many flows instead of the configuration (every
    flow has the same layers) and scale its times to the configuration's flows by the counted FLOPs, an
    extrapolation recorded in :attr:`TrainingStepTiming.flows_timed`. ``None`` (default) times the configuration.
    """
    import torch

    from ..host import read_cpu_model
    from ..training import build_optimizer

    config = check_configuration(config)
    batch_size, crop_frames = check_positive_int("batch_size", batch_size), check_positive_int("crop_frames", crop_frames)
    steps, threads = check_positive_int("steps", steps), check_positive_int("threads", threads)
    warmup = check_non_negative_int("warmup", warmup)
    n_flows = configuration_config(config, 16_000).n_flows
    if flows is not None:
        flows = check_positive_int("flows", flows)
        if flows >= n_flows:
            flows = None  # the configuration itself
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        model = load_configuration(config, 16_000, n_flows=flows).train()
        optimizer = build_optimizer(model.parameters(), model.config.optimizer)
        clip = model.config.optimizer.grad_clip_norm
        g = torch.Generator().manual_seed(seed)
        audio = 0.1 * torch.randn(batch_size, crop_frames * model.hop_length, generator=g)
        mel = torch.rand(batch_size, model.n_mels, crop_frames, generator=g)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            model.training_loss(audio, mel)["loss"].backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()

        f1, f2 = _flow_flops(model, audio, mel)
        flops = f1 + (n_flows - 1) * (f2 - f1)  # FLOPs(n) = FLOPs(rest) + n x FLOPs(one flow), exact
        scale = 1.0 if flows is None else flops / (f1 + (flows - 1) * (f2 - f1))
        for _ in range(warmup):
            step()
        cpu, wall = [], []
        for _ in range(steps):
            c0, w0 = time.process_time(), time.perf_counter()
            step()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    finally:
        torch.set_num_threads(before)
    return TrainingStepTiming(config, batch_size, crop_frames, model.hop_length, steps,
                              float(np.median(cpu)) * scale, float(np.median(wall)) * scale, flops, threads, "cpu",
                              read_cpu_model() or "", torch.__version__, flows)


def time_training_grid(configs: Iterable[str] | None = None, **kwargs: Any) -> list[TrainingStepTiming]:
    """:func:`time_training_steps` for several configurations (all checked before the first is timed)."""
    configs = check_configurations(configs)
    return [time_training_steps(c, **kwargs) for c in configs]


def _checked_prediction(timings: Sequence[TrainingStepTiming], reading: str,
                        setting: TrainingSetting) -> tuple[list[TrainingStepTiming], dict, str]:
    """``(timings, step readings, reading)``, every argument of :func:`predict_training_energy` checked."""
    timings = list(timings)
    if not timings:
        raise ValueError("timings is empty; time at least one configuration with time_training_steps")
    readings = load_step_readings()
    reading = check_choice("reading", reading, list(readings))
    if not isinstance(setting, TrainingSetting):
        raise ValueError(f"setting must be a TrainingSetting, got {type(setting).__name__}")
    for t in timings:
        check_configuration(t.config)
        check_finite_number("cpu_s_per_step", t.cpu_s_per_step, min_value=0.0, min_inclusive=False)
        check_finite_number("flops_per_step", t.flops_per_step, min_value=0.0, min_inclusive=False)
    return timings, readings, reading


def _prediction_method(t: TrainingStepTiming, reading: str, thesis_setting: str) -> str:
    """The ``energy_method`` of a predicted ``E_train``: how the steps were timed and both conversions."""
    return (f"predicted:linear-from-{t.steps_timed}-timed-steps"
            + (f" of a {t.flows_timed}-flow copy scaled by counted FLOPs" if t.flows_timed else "")
            + f" (x N steps, {reading}); thesis setting: {thesis_setting}; here: estimated CodeCarbon CPU process rule")


def predict_training_energy(timings: Sequence[TrainingStepTiming], reading: str = "reading A (r=96 -> 3M)",
                            setting: TrainingSetting = THESIS_TRAINING_SETTING, *,
                            cpu_power_model: Any = None) -> pd.DataFrame:
    """Predict each configuration's ``E_train`` by the thesis's method from timed steps.

    Extrapolation (as Carbontracker's "first epoch x number of epochs"): the measured CPU time per step is scaled to
    the setting's samples per step (``setting.samples_per_step / timing.samples_per_step``: a WaveFlow step costs a
    fixed number of FLOPs per sample) and multiplied by the paper's number of steps for the configuration's ``r``
    under ``reading`` (:func:`load_step_readings`).

    Two conversions of that CPU time to energy:

    * ``e_train_here_kwh``: on this machine, with CodeCarbon's CPU process rule (``cpu_power_model``, default this
      machine's; ``predicted`` from an ``estimated`` power);
    * ``e_train_thesis_kwh``: in the thesis's setting. The CPU time becomes GPU time through the ratio of this
      CPU's mean achieved throughput (counted FLOPs / measured CPU time, over all ``timings``) to the GPU's FP32 peak
      x ``setting.efficiency``; that time is charged at the GPU's board power (hardware catalogue) x the PUE
      Carbontracker applies. Relative costs between configurations are the measured ones.

    Returns:
        one row per timing, with the printed Table 6 value, the ratio predicted / printed, the implied GPU
        efficiency (the fraction of peak at which the prediction equals the printed value), ``energy_method`` and
        ``constants`` (JSON: every constant used, with sources).

    Raises:
        ValueError: no timings, an unknown reading (lists the valid ones), a bad setting.
    """
    from ..measure import codecarbon_cpu_power_model

    timings, readings, reading = _checked_prediction(timings, reading, setting)
    power = cpu_power_model or codecarbon_cpu_power_model()
    gpu = carbon.get_hardware(setting.gpu)
    peak = load_gpu_peak(gpu.name)
    pue = carbon.get_pue(setting.pue)
    rate = sum(t.flops_per_step for t in timings) / sum(t.cpu_s_per_step for t in timings)  # FLOP per CPU-second
    wf = _table6().set_index("config")
    constants = {
        "reading": reading, "steps_millions": readings[reading], "samples_per_step": setting.samples_per_step,
        "batch_size": setting.batch_size, "segment_samples": setting.segment_samples,
        "segment_source": "assumption: 16,000-sample segments of the public PyTorch WaveFlow/WaveGlow recipes",
        "cpu_power_model": power.to_dict(), "cpu_flops_per_cpu_s": rate, "gpu": gpu.name,
        "gpu_board_power_w": gpu.max_power_w, "gpu_power_source": gpu.source, "gpu_peak_fp32_flops":
        peak["peak_fp32_flops"], "gpu_peak_source": peak["source"], "efficiency": setting.efficiency,
        "pue": pue.pue, "pue_source": pue.source, "n_gpus": setting.n_gpus,
    }
    rows = []
    for t in timings:
        r = int(wf.loc[t.config, "r"])
        steps = readings[reading][r] * 1e6
        cpu_s = t.cpu_s_per_step * setting.samples_per_step / t.samples_per_step
        here_kwh = steps * power.energy_j(cpu_s) / carbon.J_PER_KWH
        gpu_s = cpu_s * rate / (peak["peak_fp32_flops"] * setting.efficiency)  # device-seconds per step
        thesis_kwh = steps * gpu_s * gpu.max_power_w * pue.pue / carbon.J_PER_KWH
        printed = float(wf.loc[t.config, "e_train_kwh"])
        rows.append({
            "configuration": t.config.upper(), "r": r, "steps": steps, "cpu_s_per_step_measured": t.cpu_s_per_step,
            "samples_per_step_measured": t.samples_per_step, "cpu_s_per_thesis_step": cpu_s,
            "gpu_days_on_n_gpus": steps * gpu_s / setting.n_gpus / 86400.0,
            "e_train_here_kwh": here_kwh, "e_train_thesis_kwh": thesis_kwh, "table6_kwh": printed,
            "ratio_to_table6": thesis_kwh / printed,
            "implied_efficiency": setting.efficiency * thesis_kwh / printed,
            "energy_method": _prediction_method(t, reading, f"{gpu.name} {gpu.max_power_w:g} W x PUE {pue.pue:g} "
                                                f"at {setting.efficiency:g} x FP32 peak"),
            "constants": json.dumps(constants, sort_keys=True, default=str),
        })
    return pd.DataFrame(rows)


def _pairwise_agreement(a: Sequence[float], b: Sequence[float], tolerance: float) -> tuple[int, int]:
    """Pairs ordered the same way by ``a`` and ``b`` among those ``a`` separates by more than ``tolerance``."""
    pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a))
             if abs(a[i] - a[j]) > tolerance * max(abs(a[i]), abs(a[j]))]
    return sum((a[i] < a[j]) == (b[i] < b[j]) for i, j in pairs), len(pairs)


def resolve_step_reading(timings: Sequence[TrainingStepTiming], tolerance: float = 0.05) -> dict[str, Any]:
    """Decide the §4.3.2 step-count erratum (r = 96 listed under 3M and 2M) from measured per-step costs.

    The printed ``E_train`` divided by each reading's step count is the thesis's energy per step (computed by
    :func:`greenaudio.errata.check_waveflow_training_steps`, whose verdicts are returned too). With the same
    hardware and batch, energy per step must be ordered like the measured cost per step (CPU time per sample). A
    reading is supported when it orders every pair of configurations that the measurement separates by more than
    ``tolerance`` (relative) as the measurement does.

    Returns:
        ``{"table": DataFrame (per reading: printed energy per million steps, pairs agreeing, WF3/WF4 ratios),
        "supported": [readings], "errata": DataFrame of the errata check}``.
    """
    tolerance = check_finite_number("tolerance", tolerance, min_value=0.0, max_value=1.0)
    by = {check_configuration(t.config): t for t in timings}
    configs = [c for c in CONFIGURATIONS if c in by]
    if len(configs) < 2:
        raise ValueError(f"need timings of at least two configurations, got {configs}")
    measured = [by[c].cpu_s_per_step / by[c].samples_per_step for c in configs]
    wf = _table6().set_index("config")
    rows, supported = [], []
    for reading, steps in load_step_readings().items():
        per_m = [float(wf.loc[c, "e_train_kwh"]) / steps[int(wf.loc[c, "r"])] for c in configs]
        agree, total = _pairwise_agreement(measured, per_m, tolerance)
        row = {"reading": reading, "printed_kwh_per_million_steps": ", ".join(f"{v:.1f}" for v in per_m),
               "pairs_ordered_as_measured": f"{agree} of {total}", "consistent": agree == total}
        if "wf3" in by and "wf4" in by:
            i3, i4 = configs.index("wf3"), configs.index("wf4")
            row["printed_wf3_over_wf4_per_step"] = per_m[i3] / per_m[i4]
            row["measured_wf3_over_wf4_per_step"] = measured[i3] / measured[i4]
        rows.append(row)
        if agree == total:
            supported.append(reading)
    checks = pd.DataFrame([dataclasses.asdict(e) for e in errata.check_waveflow_training_steps()])
    return {"table": pd.DataFrame(rows), "supported": supported, "errata": checks}


# -- 4. quality after an equal mini budget --------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyProtocol:
    """How the five configurations are trained and scored for the quality column.

    Attributes:
        name: ``"quick"`` or ``"mini"`` (the folder under ``resources/waveflow_study``).
        training: the zoo protocol every configuration is trained under (same budget for all five).
        score_clips: held-out clips of the corpus's test split that are resynthesised and scored.
        score_metrics: names of :data:`greenaudio.evaluation.VALIDATION_METRICS`.
        sample_seed: seed of the latent noise when scoring.
    """

    name: str
    training: Any
    score_clips: int = 8
    score_metrics: tuple[str, ...] = ("d_stft", "pesq_wb", "distillmos")
    sample_seed: int = 1234

    def key(self) -> str:
        """Hash of every setting that changes a result (training protocol, scoring)."""
        settings = {"training": self.training.to_dict(), "score_clips": self.score_clips,
                    "score_metrics": list(self.score_metrics), "sample_seed": self.sample_seed}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "training": self.training.to_dict(), "score_clips": self.score_clips,
                "score_metrics": list(self.score_metrics), "sample_seed": self.sample_seed, "key": self.key()}


def _study_protocols() -> dict[str, StudyProtocol]:
    mini = PROTOCOLS["mini"].replace(name="waveflow-mini", budget_s={c: 300.0 for c in CONFIGURATIONS})
    quick = PROTOCOLS["quick"].replace(name="waveflow-quick", budget_s={c: 60.0 for c in CONFIGURATIONS},
                                       threads=1, max_steps=2, batch_size=1, crop_frames=2,
                                       val_metrics=("d_stft",), validate_every_s=None)
    return {"mini": StudyProtocol("mini", mini, score_clips=8),
            "quick": StudyProtocol("quick", quick, score_clips=1, score_metrics=("d_stft",))}


#: ``mini``: the zoo's mini protocol (same corpus, 16-frame crops, batch 8, seed 0, 1 thread, process-CPU clock)
#: with one equal budget of 300 CPU-seconds per configuration, scored on 8 held-out clips with D_STFT, PESQ-WB and
#: DistillMOS. ``quick``: 2 steps of batch 1, scored with D_STFT on 1 clip (checks the machinery only).
STUDY_PROTOCOLS = _study_protocols()


def get_study_protocol(name: str | StudyProtocol) -> StudyProtocol:
    """A study protocol by name (``"mini"``, ``"quick"``; case-insensitive) or the protocol itself."""
    if isinstance(name, StudyProtocol):
        return name
    return STUDY_PROTOCOLS[check_choice("protocol", name, list(STUDY_PROTOCOLS))]


def default_study_dir() -> Path:
    """The package's shipped folder (``greenaudio/resources/waveflow_study``)."""
    return Path(__file__).resolve().parents[1] / "resources" / "waveflow_study"


#: Columns of the study's ``manifest.csv`` (:data:`greenaudio.files.CONFIG_MANIFEST_COLUMNS`).
STUDY_MANIFEST_COLUMNS = CONFIG_MANIFEST_COLUMNS


def read_scores(folder: str | os.PathLike) -> pd.DataFrame:
    """``<folder>/scores.csv`` of a study protocol folder (empty DataFrame when it does not exist)."""
    path = Path(folder) / "scores.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def load_study_results(protocol: str = "mini", root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The shipped scores of a study protocol (empty DataFrame when nothing is shipped yet)."""
    return read_scores((Path(root) if root else default_study_dir()) / get_study_protocol(protocol).name)


def verify_study_manifest(protocol: str = "mini", root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Check every shipped file of a study protocol against its sha256 in ``manifest.csv``.

    Raises:
        greenaudio.files.ArtefactError: no or a malformed ``manifest.csv``, a row whose path leaves
            the folder, a missing or altered file, or a file the manifest does not list (naming them:
            :func:`greenaudio.files.verify_folder`).
    """
    folder = (Path(root) if root else default_study_dir()) / get_study_protocol(protocol).name
    return verify_folder(folder, columns=STUDY_MANIFEST_COLUMNS, how_to_ship=f"greenaudio waveflow-study --protocol "
                         f"{folder.name}")


# -- 5. Figure 28 and the thesis's statements -------------------------------------------------------------------
#: The three fronts of Figure 28: name -> cost column (minimised).
FRONTS = {"training": "e_train", "parameters": "params", "generation": "e_gen"}
#: Direction of each quality column on Figure 28's planes: MOS, PESQ-WB and DistillMOS are maximised, D_STFT (a
#: distance to the reference, Eq. 29) minimised.
QUALITY_SENSE = {"mos": "max", "distillmos": "max", "pesq_wb": "max", "d_stft": "min"}


def quality_sense(quality: str, sense: str | None = None) -> str:
    """``"max"`` or ``"min"``: ``sense`` if given, else :data:`QUALITY_SENSE` (``"max"`` for an unknown column)."""
    if sense is not None:
        return check_choice("sense", sense, ("max", "min"))
    return QUALITY_SENSE.get(quality, "max")


def compute_fronts(table: pd.DataFrame, quality: str = "mos", costs: Mapping[str, str] | None = None,
                   label: str = "configuration", sense: str | None = None) -> pd.DataFrame:
    """Pareto optimality of each configuration in each front (cost minimised, ``quality`` maximised, or minimised
    when its sense is ``"min"``: :func:`quality_sense`).

    Args:
        table: one row per configuration with ``label``, ``quality`` and the cost columns.
        costs: ``{front name: cost column}`` (default :data:`FRONTS`).
        sense: ``"max"`` or ``"min"`` for ``quality`` (default: :data:`QUALITY_SENSE`).

    Returns:
        ``label`` plus, per front, ``optimal_<front>`` and ``dominated_by_<front>``
        (:func:`greenaudio.pareto.compute_pareto_table`).
    """
    costs = dict(costs or FRONTS)
    direction = quality_sense(quality, sense)
    out = pd.DataFrame({label: table[label].to_numpy()})
    for front, column in costs.items():
        annotated = pareto.compute_pareto_table(table, {column: "min", quality: direction}, label=label)
        out[f"optimal_{front}"] = annotated["pareto_optimal"].to_numpy()
        out[f"dominated_by_{front}"] = annotated["dominated_by"].to_numpy()
    return out


def compute_gap_comparison(table: pd.DataFrame, first: str, second: str, order_by: str = "mos",
                           label: str = "configuration", ascending: bool = True) -> pd.DataFrame:
    """Gaps between consecutive configurations (ordered by ``order_by``) along two cost axes, relative and scaled.

    ``log_gap_<col>`` = ln(x_next / x) (scale-free: a doubling is 0.69 whatever the unit); ``range_gap_<col>`` =
    (x_next - x) / (max - min) (the gap as a share of the axis's range, as it looks on a plot). ``ascending=False``
    orders from the largest ``order_by`` (worst to best for a minimised quality such as D_STFT).
    """
    t = table.sort_values(order_by, kind="stable", ascending=ascending).reset_index(drop=True)
    rows = []
    for i in range(len(t) - 1):
        row = {"pair": f"{t.loc[i, label]}–{t.loc[i + 1, label]}"}
        for col in (first, second):
            x0, x1 = float(t.loc[i, col]), float(t.loc[i + 1, col])
            span = float(t[col].max() - t[col].min()) or 1.0
            row[f"log_gap_{col}"] = math.log(x1 / x0)
            row[f"range_gap_{col}"] = (x1 - x0) / span
        rows.append(row)
    return pd.DataFrame(rows)


def compute_statements(table: pd.DataFrame, quality: str = "mos", label: str = "configuration",
                       sense: str | None = None) -> dict[str, Any]:
    """The thesis's three statements about Figure 28, computed on ``table`` (columns ``e_train``, ``params``,
    ``e_gen``, ``quality``, ``label``; ``sense`` of the quality as in :func:`compute_fronts`).

    Returns:
        ``wf3_dominated_in_training`` (bool) and who dominates it; ``all_optimal_in_energy_front`` (bool);
        ``gaps`` (:func:`compute_gap_comparison` of parameters vs E_gen, ordered from the worst quality to the best);
        ``gap_widens_log`` / ``gap_widens_range``: for how many consecutive pairs the gap is larger in the energy
        front than in the parameters front; ``size_pairs``: pairs of configurations with different parameter counts,
        ``e_gen_rises_with_size``: how many of them the larger one also needs more generation energy.
    """
    direction = quality_sense(quality, sense)
    fronts = compute_fronts(table, quality, label=label, sense=direction).set_index(label)
    wf3 = [i for i in fronts.index if str(i).lower() == "wf3"]
    gaps = compute_gap_comparison(table, "params", "e_gen", order_by=quality, label=label,
                                  ascending=direction == "max")
    wider_log = int((gaps["log_gap_e_gen"].abs() > gaps["log_gap_params"].abs()).sum())
    wider_range = int((gaps["range_gap_e_gen"].abs() > gaps["range_gap_params"].abs()).sum())
    params, e_gen = table["params"].tolist(), table["e_gen"].tolist()
    size_pairs = [(i, j) for i in range(len(params)) for j in range(i + 1, len(params)) if params[i] != params[j]]
    rises = sum((params[i] > params[j]) == (e_gen[i] > e_gen[j]) and e_gen[i] != e_gen[j] for i, j in size_pairs)
    return {
        "wf3_dominated_in_training": bool(wf3) and not bool(fronts.loc[wf3[0], "optimal_training"]),
        "wf3_dominated_by": fronts.loc[wf3[0], "dominated_by_training"] if wf3 else "",
        "wf3_optimal_in_inference": bool(wf3) and bool(fronts.loc[wf3[0], "optimal_parameters"])
        and bool(fronts.loc[wf3[0], "optimal_generation"]),
        "all_optimal_in_energy_front": bool(fronts["optimal_generation"].all()),
        "dominated_in_energy_front": [str(i) for i in fronts.index[~fronts["optimal_generation"]]],
        "gaps": gaps, "pairs": len(gaps), "gap_widens_log": wider_log, "gap_widens_range": wider_range,
        "size_pairs": len(size_pairs), "e_gen_rises_with_size": int(rises),
        "fronts": fronts.reset_index(),
    }


def thesis_table() -> pd.DataFrame:
    """Table 6 (data) with the columns Figure 28 plots: ``configuration``, ``e_train`` (kWh, predicted by the thesis
    with Carbontracker), ``params`` (millions, the paper's), ``e_gen`` (Wh per 100 s of audio, measured by the thesis
    on a TITAN V) and ``mos`` (the paper's)."""
    wf = _table6()
    return pd.DataFrame({"configuration": wf["label"], "e_train": wf["e_train_kwh"], "params": wf["params_millions"],
                         "e_gen": wf["e_gen_wh"], "mos": wf["mos"]})


def compute_study_table(parameters: pd.DataFrame, generation: pd.DataFrame, training: pd.DataFrame,
                        scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """This book's Figure 28 table: ``e_train`` (kWh, predicted in the thesis's setting), ``params`` (millions,
    counted with weight-norm gains), ``e_gen`` (Wh per 100 s of audio, measured or estimated here), the paper's
    ``mos`` (data) and, when ``scores`` (the shipped study results) are given, their quality columns
    (``d_stft``, ``pesq_wb``, ``distillmos``) for the configurations they hold."""
    wf = _table6()
    table = pd.DataFrame({"configuration": wf["label"], "mos": wf["mos"]})
    table = table.merge(parameters[["configuration", "params"]].assign(params=lambda t: t.params / 1e6),
                        on="configuration")
    table = table.merge(generation[["configuration", "e_gen_wh_per_100_audio_s"]].rename(
        columns={"e_gen_wh_per_100_audio_s": "e_gen"}), on="configuration")
    table = table.merge(training[["configuration", "e_train_thesis_kwh"]].rename(
        columns={"e_train_thesis_kwh": "e_train"}), on="configuration")
    if scores is not None and not scores.empty:
        quality = [c for c in ("d_stft", "pesq_wb", "distillmos", "steps") if c in scores.columns]
        shipped = scores.assign(configuration=scores["config"].str.upper())[["configuration", *quality]]
        table = table.merge(shipped, on="configuration", how="left")
    return table[["configuration", "e_train", "params", "e_gen", "mos"]
                 + [c for c in table.columns if c not in ("configuration", "e_train", "params", "e_gen", "mos")]]


def plot_figure28(panels: Mapping[str, pd.DataFrame], *, quality: Mapping[str, str] | str = "mos",
                  labels: Mapping[str, Mapping[str, str]] | None = None, label: str = "configuration"):
    """Figure 28 side by side: one column per panel set (e.g. ``{"thesis (Table 6)": ..., "this book": ...}``), one
    row per front (E_train, parameters, E_gen against quality), Pareto-optimal points circled in red.

    A minimised quality (:data:`QUALITY_SENSE`, e.g. D_STFT) is plotted with its axis inverted, so that the better
    configurations sit at the top in every column, as in the thesis's figure.

    Args:
        panels: ``{column title: table}``; each table has ``label``, ``e_train``, ``params``, ``e_gen`` and the
            quality column.
        quality: the quality column of every panel, or ``{title: column}``.
        labels: axis labels ``{title: {"e_train": ..., "params": ..., "e_gen": ..., "quality": ...}}``.

    Returns:
        the Matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from ..plotting import plot_pareto

    # about 3.3 inches per column, so that the labels stay legible when the figure fills a book's text column
    fig, axes = plt.subplots(3, len(panels), figsize=(3.3 * len(panels), 8.5), squeeze=False)
    for j, (title, table) in enumerate(panels.items()):
        q = quality if isinstance(quality, str) else quality[title]
        direction = quality_sense(q)
        names = dict((labels or {}).get(title, {}))
        for i, column in enumerate(("e_train", "params", "e_gen")):
            ax = axes[i, j]
            plot_pareto(ax, table[column], table[q], labels=table[label], xlabel=names.get(column, column),
                        ylabel=names.get("quality", q), directions=("min", direction),
                        invert_y=direction == "min")
            ax.xaxis.label.set_fontsize(8)
            ax.yaxis.label.set_fontsize(8)
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


# -- 6. the chapter's panels and facts (computed from the tables above; no number typed in) ------------------------
#: Figure 28's column titles in the chapter (the fronts tables are labelled after them).
PANEL_THESIS = "thesis (Table 6, data)"
PANEL_LIVE = "this book (computed)"
PANEL_TRAINED = "this book, mini-trained (computed)"
_FRONTS_LABEL = {PANEL_THESIS: "waveflow-fronts-thesis", PANEL_LIVE: "waveflow-fronts-live",
                 PANEL_TRAINED: "waveflow-fronts-trained"}


def choose_step_reading(resolution: Mapping[str, Any], default: str = "reading A (r=96 -> 3M)") -> str:
    """The step-count reading a prediction uses: the only one the measurement supports, else ``default``
    (``resolution``: :func:`resolve_step_reading`'s result; its ``"supported"`` list says which were supported)."""
    supported = list(resolution["supported"])
    return supported[0] if len(supported) == 1 else check_choice("reading", default, list(load_step_readings()))


def _concordant(values: Sequence[float], quality: Sequence[float], sense: str) -> tuple[int, int]:
    """Pairs in which the larger ``values`` has the better ``quality``, among pairs separated by both."""
    pairs = [(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
             if values[i] != values[j] and quality[i] != quality[j]]
    sign = 1 if sense == "max" else -1
    return sum((values[i] > values[j]) == (sign * quality[i] > sign * quality[j]) for i, j in pairs), len(pairs)


def compute_mini_study_ranking(scores: pd.DataFrame, qualities: Sequence[str] = ("d_stft", "pesq_wb")) -> pd.DataFrame:
    """What orders the configurations of a shipped equal-budget study: their size or the steps each made.

    For each quality column of ``scores`` (the shipped study's columns) with a value for every configuration, counted
    over the pairs of configurations that both separate: ``larger_better`` of ``size_pairs`` pairs in which the
    configuration with more parameters (the paper's, Table 6) scores better (as the paper's MOS does), and
    ``more_steps_better`` of ``steps_pairs`` in which the one that made more steps scores better. ``ranks_by`` is
    ``"steps"`` or ``"size"`` (whichever agrees in the larger share of its pairs) or ``"neither"`` (equal shares);
    ``order`` lists the configurations best first; ``sense`` is ``"max"`` or ``"min"`` (:func:`quality_sense`).

    Returns:
        one row per quality (empty when ``scores`` is).
    """
    columns = ["quality", "sense", "order", "larger_better", "size_pairs", "more_steps_better", "steps_pairs",
               "ranks_by"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    t = scores.assign(configuration=scores["config"].str.upper()).sort_values("configuration")
    t = t.merge(thesis_table()[["configuration", "params"]], on="configuration", how="left")
    rows = []
    for q in qualities:
        if q not in t or t[q].isna().any():
            continue
        sense = quality_sense(q)
        ranked = t.sort_values(q, ascending=sense == "min", kind="stable")["configuration"].tolist()
        by_size = _concordant(t["params"].tolist(), t[q].tolist(), sense)
        by_steps = _concordant(t["steps"].astype(float).tolist(), t[q].tolist(), sense)
        share = [a / n if n else float("nan") for a, n in (by_size, by_steps)]
        ranks_by = "steps" if share[1] > share[0] else "size" if share[0] > share[1] else "neither"
        rows.append({"quality": q, "sense": sense, "order": ", ".join(ranked), "larger_better": by_size[0],
                     "size_pairs": by_size[1], "more_steps_better": by_steps[0], "steps_pairs": by_steps[1],
                     "ranks_by": ranks_by})
    return pd.DataFrame(rows, columns=columns)


def load_mini_study(protocol: str = "mini", root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The shipped equal-budget study of ``protocol`` for the chapter: ``shipped`` (bool), ``scores`` (as shipped;
    empty if nothing is shipped), ``table`` (the columns shown, or ``None``) and ``ranking``
    (:func:`compute_mini_study_ranking`). Every shipped file is checked against its sha256 first
    (:func:`verify_study_manifest`)."""
    protocol = get_study_protocol(protocol).name
    scores = load_study_results(protocol, root)
    if scores.empty:
        return {"shipped": False, "scores": scores, "table": None, "ranking": compute_mini_study_ranking(scores)}
    verify_study_manifest(protocol, root)
    table = scores.drop(columns=[c for c in ("train_energy_constants", "study_key") if c in scores])
    return {"shipped": True, "scores": scores, "table": table, "ranking": compute_mini_study_ranking(scores)}


def figure28_panels(printed: pd.DataFrame, live: pd.DataFrame, generation: pd.DataFrame) -> dict[str, Any]:
    """Figure 28's columns for the chapter: the thesis's (Table 6), this book's costs against the paper's MOS, and,
    when the equal-budget study is shipped for at least three configurations, this book's costs against the D_STFT of
    the mini-trained models (minimised; DistillMOS does not rank this corpus, see
    :func:`greenaudio.chapters.quality.distillmos_against_ground_truth`).

    Returns:
        ``{"panels": {title: table}, "quality": {title: column}, "labels": {title: axis labels},
        "missing": [configurations absent from the mini-trained column], "caption": str}`` for
        :func:`plot_figure28` and the chapter's caption.
    """
    method = str(generation["energy_method"].iloc[0]).split(":")[0]
    panels = {PANEL_THESIS: printed, PANEL_LIVE: live}
    quality = {PANEL_THESIS: "mos", PANEL_LIVE: "mos"}
    labels = {PANEL_THESIS: {"e_train": "E_train, predicted by the thesis (kWh)",
                             "params": "Parameters, paper (M)",
                             "e_gen": "E_gen, TITAN V (Wh / 100 s)", "quality": "MOS (paper)"},
              PANEL_LIVE: {"e_train": "E_train, predicted here (kWh)",
                           "params": "Parameters, counted (M)",
                           "e_gen": f"E_gen, {method} here (Wh / 100 s)", "quality": "MOS (paper)"}}
    shipped = live[live["d_stft"].notna()] if "d_stft" in live else live.iloc[:0]
    trained = len(shipped) >= 3  # a front needs a few points; configurations not shipped are named in the caption
    missing = [c for c in live["configuration"] if c not in set(shipped["configuration"])]
    if trained:
        panels[PANEL_TRAINED] = shipped.reset_index(drop=True)
        quality[PANEL_TRAINED] = "d_stft"
        labels[PANEL_TRAINED] = {**labels[PANEL_LIVE], "quality": "D-STFT (lower is better)"}
    caption = ("Pareto fronts of quality against the training energy (top), the parameters (middle) and the "
               "generation energy (bottom) of WF1–WF5: the thesis's numbers (left, the paper's MOS, maximised) and "
               "this book's costs against the same MOS (middle)"
               + ("; right: the same costs against the D-STFT of the models trained at one equal mini budget "
                  "(minimised, axis inverted so that better is up)"
                  + (f"; {', '.join(missing)} not in the shipped study, so absent from that column" if missing else "")
                  if trained else "; the mini-trained column appears once the equal-budget study is shipped for at "
                  "least three configurations")
               + ". Optimal configurations circled in red.")
    return {"panels": panels, "quality": quality, "labels": labels, "missing": missing, "caption": caption}


def compute_statement_tables(figure: Mapping[str, Any]) -> dict[str, Any]:
    """The thesis's statements on every column of :func:`figure28_panels` (and, for the mini-trained column, on
    PESQ-WB as a second quality when all its configurations have one).

    Returns:
        ``{"tables": {label: (fronts table, caption)}, "statements": {name: compute_statements(...)},
        "qualities": {name: quality column}, "gaps": the thesis's gap table}``; ``name`` is the panel's title
        (``", PESQ-WB"`` appended for the second quality).
    """
    tables, statements, qualities = {}, {}, {}
    runs = [(title, figure["quality"][title], _FRONTS_LABEL.get(title, "waveflow-fronts"), title)
            for title in figure["panels"]]
    trained = figure["panels"].get(PANEL_TRAINED)
    if trained is not None and "pesq_wb" in trained and bool(trained["pesq_wb"].notna().all()):
        runs.append((PANEL_TRAINED, "pesq_wb", "waveflow-fronts-trained-pesq", PANEL_TRAINED + ", PESQ-WB"))
    for title, q, label, name in runs:
        s = compute_statements(figure["panels"][title], q)
        statements[name] = s
        qualities[name] = q
        tables[label] = (s["fronts"], f"Pareto optimality of WF1–WF5 in the three fronts, {name} "
                                      f"({q}, {'maximised' if quality_sense(q) == 'max' else 'minimised'}).")
    return {"tables": tables, "statements": statements, "qualities": qualities,
            "gaps": statements[PANEL_THESIS]["gaps"] if PANEL_THESIS in statements else None}


def compute_fronts_overview(statements: Mapping[str, Mapping[str, Any]], label: str = "configuration") -> pd.DataFrame:
    """Every fronts table of :func:`compute_statement_tables` in one long table: ``panel`` (the statements' name),
    ``label``, and per front (``training``, ``parameters``, ``generation``) ``"optimal"`` or ``"dominated by X"``."""
    rows = []
    for name, s in statements.items():
        for row in s["fronts"].itertuples(index=False):
            out = {"panel": name, label: getattr(row, label)}
            for front in FRONTS:
                out[front] = ("optimal" if getattr(row, f"optimal_{front}")
                              else f"dominated by {getattr(row, f'dominated_by_{front}')}")
            rows.append(out)
    return pd.DataFrame(rows, columns=["panel", label, *FRONTS])
