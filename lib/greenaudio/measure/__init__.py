"""Inference-cost measurement of vocoders: parameters, FLOPs, real-time factor and energy, with provenance.

Used by: notebooks/05_1_cost_benchmark.ipynb (Table 8, Figures 33-34), the ``greenaudio bench`` command.

>>> from greenaudio import measure, vocoders
>>> rec = measure.benchmark_model(vocoders.load("hifigan", "small"), name="hifigan", size="small",
...                               protocol=measure.QUICK_PROTOCOL)
>>> rec.gflops_per_audio_s, rec.rtf_median, rec.e_gen_j_per_100_audio_s, rec.energy_method
>>> measure.run_grid(["melgan", "hifigan"], ["small"], store="results/05/bench.sqlite")  # resumable

Energy is *measured* (RAPL package + DRAM read from sysfs, the NVML energy counter) where counters exist, otherwise
*estimated* (on a CPU: CodeCarbon's power model, TDP x process CPU time / logical CPUs) with every constant shown;
:mod:`greenaudio.measure.provenance` derives every label from the record, so each figure says which.
"""

from .bench import (
    GridResult,
    benchmark_model,
    check_device,
    code_version,
    energy_settings_key,
    environment_key,
    failed_record,
    make_mel_batches,
    plan_grid,
    procedure_key,
    run_grid,
)
from .energy import (
    METHOD_CODECARBON,
    METHOD_ESTIMATED,
    EnergyMeasurement,
    EnergyMonitor,
    PowerEstimate,
    discover_energy_domains,
    merge_energy_windows,
    process_tree_cpu_time_s,
    process_tree_rss_gib,
    resolve_power_estimate,
)
from .environment import (Environment, HostType, collect_environment, detect_host_type, read_cpu_isa, read_cpu_model,
                          read_git_commit)
from .flops import (
    FLOPS_NOTE,
    FlopCount,
    compute_conv1d_flops,
    compute_conv_transpose1d_flops,
    compute_linear_flops,
    count_flops,
)
from .power_models import (
    ENERGY_METHOD_ALIASES,
    METHOD_CODECARBON_CPU,
    METHOD_CODECARBON_RAM,
    CodeCarbonEnergy,
    CpuMatch,
    CpuPowerModel,
    RamPowerModel,
    canonical_energy_method,
    codecarbon_cpu_power_model,
    codecarbon_power_model_key,
    codecarbon_ram_power_model,
    compare_energy_tools,
    compute_codecarbon_energy,
    decompose_energy_tools,
    match_cpu_carbontracker,
    match_cpu_codecarbon,
)
from .protocol import PRECISIONS, QUICK_PROTOCOL, THESIS_PROTOCOL, Protocol, torch_dtype
from .provenance import (energy_axis_label, energy_caption_note, energy_is_time_proxy, energy_kind, energy_method_facts,
                         energy_method_label)
from .records import KEY_FIELDS, BenchmarkRecord
from .speed import SPEED_PROTOCOL, load_shipped_records, machine_slug, ship_records, shipped_record_files, speed_table
from .store import ResultStore, check_store_file, load_records, save_records_csv
from .timing import Timing, compute_timing, measure_time, synchronize

__all__ = [
    # protocol
    "Protocol",
    "THESIS_PROTOCOL",
    "QUICK_PROTOCOL",
    "PRECISIONS",
    "torch_dtype",
    # benchmark
    "benchmark_model",
    "run_grid",
    "plan_grid",
    "GridResult",
    "procedure_key",
    "energy_settings_key",
    "environment_key",
    "code_version",
    "failed_record",
    "check_device",
    "make_mel_batches",
    "BenchmarkRecord",
    "KEY_FIELDS",
    # store
    "ResultStore",
    "load_records",
    "save_records_csv",
    "check_store_file",
    # shipped speed records
    "SPEED_PROTOCOL",
    "machine_slug",
    "ship_records",
    "shipped_record_files",
    "load_shipped_records",
    "speed_table",
    # provenance
    "energy_kind",
    "energy_method_facts",
    "energy_method_label",
    "energy_axis_label",
    "energy_is_time_proxy",
    "energy_caption_note",
    # power models
    "CpuMatch",
    "CpuPowerModel",
    "codecarbon_cpu_power_model",
    "match_cpu_codecarbon",
    "match_cpu_carbontracker",
    "compare_energy_tools",
    # energy
    "EnergyMeasurement",
    "EnergyMonitor",
    "PowerEstimate",
    "METHOD_ESTIMATED",
    "METHOD_CODECARBON",
    "METHOD_CODECARBON_CPU",
    "METHOD_CODECARBON_RAM",
    "ENERGY_METHOD_ALIASES",
    "CodeCarbonEnergy",
    "RamPowerModel",
    "canonical_energy_method",
    "codecarbon_power_model_key",
    "codecarbon_ram_power_model",
    "compute_codecarbon_energy",
    "decompose_energy_tools",
    "process_tree_cpu_time_s",
    "process_tree_rss_gib",
    "discover_energy_domains",
    "resolve_power_estimate",
    # FLOPs
    "FlopCount",
    "FLOPS_NOTE",
    "count_flops",
    "compute_conv1d_flops",
    "compute_conv_transpose1d_flops",
    "compute_linear_flops",
    # timing
    "Timing",
    "compute_timing",
    "measure_time",
    "synchronize",
    # environment
    "Environment",
    "HostType",
    "collect_environment",
    "detect_host_type",
    "read_cpu_isa",
    "merge_energy_windows",
    "read_cpu_model",
    "read_git_commit",
]
