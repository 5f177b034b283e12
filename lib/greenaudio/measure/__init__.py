"""Inference-cost measurement of vocoders: parameters, FLOPs, real-time factor and energy, with provenance.

Used by: notebooks/05_1_cost_benchmark.ipynb (Table 8, Figures 33-34), the ``greenaudio bench`` command.

>>> from greenaudio import measure, vocoders
>>> rec = measure.benchmark_model(vocoders.load("hifigan", "small"), name="hifigan", size="small",
...                               protocol=measure.QUICK_PROTOCOL)
>>> rec.gflops_per_audio_s, rec.rtf_median, rec.e_gen_j_per_100_audio_s, rec.energy_method
>>> measure.run_grid(["melgan", "hifigan"], ["small"], store="results/05/bench.sqlite")  # resumable

Energy is *measured* (pyJoules: RAPL package + DRAM, NVML energy counter) where counters exist, otherwise
*estimated* as device power x measured time with every constant shown; each figure says which.
"""

from .bench import GridResult, benchmark_model, check_device, failed_record, make_mel_batches, run_grid
from .energy import (
    METHOD_ESTIMATED,
    EnergyMeasurement,
    EnergyMonitor,
    PowerEstimate,
    discover_energy_domains,
    resolve_power_estimate,
)
from .environment import Environment, HostType, collect_environment, detect_host_type, read_cpu_model, read_git_commit
from .flops import (
    FLOPS_NOTE,
    FlopCount,
    compute_conv1d_flops,
    compute_conv_transpose1d_flops,
    compute_linear_flops,
    count_flops,
)
from .protocol import PRECISIONS, QUICK_PROTOCOL, THESIS_PROTOCOL, Protocol, torch_dtype
from .records import KEY_FIELDS, BenchmarkRecord
from .store import ResultStore, load_records, save_records_csv
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
    "GridResult",
    "failed_record",
    "check_device",
    "make_mel_batches",
    "BenchmarkRecord",
    "KEY_FIELDS",
    # store
    "ResultStore",
    "load_records",
    "save_records_csv",
    # energy
    "EnergyMeasurement",
    "EnergyMonitor",
    "PowerEstimate",
    "METHOD_ESTIMATED",
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
    "read_cpu_model",
    "read_git_commit",
]
