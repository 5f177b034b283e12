"""Inference-cost measurement of vocoders: parameters, FLOPs, real-time factor and energy, with provenance.

Used by: notebooks/05_1_cost_benchmark.ipynb (Table 8, Figures 33-34), the ``greenaudio bench`` command.

>>> from greenaudio import measure, vocoders
>>> rec = measure.benchmark_model(vocoders.load("hifigan", "small"), name="hifigan", size="small",
...                               protocol=measure.QUICK_PROTOCOL)
>>> rec.gflops_per_audio_s, rec.rtf_median, rec.e_gen_j_per_100_audio_s, rec.energy_method

A grid of such cells, resumable in a :class:`ResultStore`, here or on a Ray cluster:
:func:`greenaudio.orchestration.bench.run_bench_grid`.

Energy is *measured* (RAPL package + DRAM read from sysfs, the NVML energy counter) where counters exist, otherwise
*estimated* (on a CPU: CodeCarbon's power model, TDP x process CPU time / logical CPUs) with every constant shown;
:mod:`greenaudio.provenance` derives every label from the record, so each figure says which.
"""

from ..provenance import (energy_axis_label, energy_caption_note, energy_is_time_proxy, energy_kind,
                          energy_method_facts, energy_method_label)
from .bench import benchmark_model, check_device
from .energy import METHOD_CODECARBON, EnergyMeasurement, EnergyMonitor, merge_energy_windows, process_tree_cpu_time_s
from .flops import FLOPS_NOTE, compute_conv1d_flops, compute_conv_transpose1d_flops, count_flops
from .power_models import (codecarbon_cpu_power_model, compare_energy_tools, match_cpu_carbontracker,
                           match_cpu_codecarbon)
from .protocol import QUICK_PROTOCOL, THESIS_PROTOCOL, Protocol
from .records import KEY_FIELDS, BenchmarkRecord
from .speed import SPEED_PROTOCOL, load_shipped_records, machine_slug, shipped_record_files, speed_table
from .store import ResultStore, load_records, save_records_csv
from .timing import compute_timing

__all__ = [
    # protocol and one cell
    "Protocol", "THESIS_PROTOCOL", "QUICK_PROTOCOL", "benchmark_model", "check_device", "BenchmarkRecord",
    "KEY_FIELDS", "compute_timing",
    # store
    "ResultStore", "load_records", "save_records_csv",
    # shipped speed records
    "SPEED_PROTOCOL", "machine_slug", "shipped_record_files", "load_shipped_records", "speed_table",
    # provenance
    "energy_kind", "energy_method_facts", "energy_method_label", "energy_axis_label", "energy_is_time_proxy",
    "energy_caption_note",
    # energy and power models
    "EnergyMeasurement", "EnergyMonitor", "METHOD_CODECARBON", "merge_energy_windows", "process_tree_cpu_time_s",
    "codecarbon_cpu_power_model", "match_cpu_codecarbon", "match_cpu_carbontracker", "compare_energy_tools",
    # FLOPs
    "FLOPS_NOTE", "count_flops", "compute_conv1d_flops", "compute_conv_transpose1d_flops",
]
