"""Plain vs prepared inference of the vocoder zoo: wall-clock RTF, peak RSS, achieved GFLOP/s against this CPU's peak.

For each configuration (model x size x duration; default: all 18 at 1 s and 10 s, ``--sizes``/``--durations``), in
ONE process and interleaved (plain, prepared-torch, prepared-compile, prepared-onnxruntime, ... then again), times
``model.generate(mel, generator=seeded)`` on a random mel of the duration; reports the minimum over ``--repeats``
rounds (after a warm-up on a 4-frame clip), the real-time factor (wall-clock seconds per second of audio), the
speed-up over the plain path, the FLOPs of the path that ran (counted with ``greenaudio.measure.flops.count_flops``
on a 16-frame clip and scaled linearly to the duration), the achieved GFLOP/s, and that as a fraction of this CPU's
compute roof measured in the same run (:func:`greenaudio.measure.roof.measure_compute_roof`: the fastest of a 2048x2048
fp32 matmul in torch and in ONNX Runtime and a 256-channel conv1d, at the same thread count; ``roof_kernel`` names the
best, ``roof_kernels`` holds every kernel's rate; the reduced-precision rows also get ``precision_roof_fraction``
against the bf16 or int8 roof).

Each row also records the median wall and CPU (process) time over the repeats (``time_median_s``,
``cpu_time_median_s``: the CPU time is robust to another process sharing the core), the 1-minute load average at the
start and end of the configuration's timings, and every prepared row its output change against the plain path on
the same mel and noise (``output_rel_l2``, ``output_snr_db``, ``output_d_stft``). Backends ``bf16`` and ``int8``
(reduced precision; opt-in with ``--backends``) run only where the family implements them and the CPU has the
instruction set (a row says why otherwise); ``int8`` calibrates on the first 8 training mels of the offline speech
corpus. ``--weights trained`` loads the zoo's trained weights where it ships them (HiFi-GAN small and medium; others
fresh, as the ``weights`` column says) and ``--mel speech`` times a real mel (the corpus's test clips joined) instead
of a random one: the output change of the reduced-precision backends only means something with both.

Peak RSS (``--rss``): each (configuration, variant) runs again in a FRESH subprocess that builds the model, prepares
it, generates once and reports its ``VmHWM`` (peak resident set of the whole process: interpreter, torch, weights,
activations; not ``ru_maxrss``, which Linux carries over from the parent across ``execve``). ``--rss-rows N`` stops
WaveFlow after N rows of its first reversed flow (the plain path allocates its conditioning block before the first
row; the prepared path's memory is the same for every row and flow), which makes the 10-s large configuration
measurable in seconds instead of tens of minutes per variant; the ``rss_method`` column says so.

Compile (``prepared-compile``): ``torch.compile`` with static shapes compiles on the first call at each input shape,
so its warm-up is one call at the timed shape; ``compile_s`` is that call's time minus the steady time (minutes on a
small CPU). A backend unavailable here (``status`` unavailable), a compile that raises (failed) or whose first call
exceeds ``--compile-timeout-s`` (compile-timeout) still gets a row whose ``reason`` says why; never a silent gap.

Resumable: with ``--csv`` (or ``--ship``) every configuration is merged into the file as soon as it is measured, and a
configuration whose variants the file already holds under the same settings on this machine (device, threads,
repeats, torch and ONNX Runtime versions; with ``--rss``, a peak RSS too) is not measured again (``--force`` does).
The run ends with the table of the requested configurations and how close they come to the compute roof.

Shipping: ``--ship`` merges into ``greenaudio/resources/speed/inference_prepared_cpu.csv`` and rewrites
``resources/speed/manifest.csv`` (bytes, sha256, provenance, reproduce) atomically; ``--manifest-only`` rewrites only
the manifest; ``--replay`` re-runs every command recorded in the shipped file (``--force``) and rewrites the manifest:
the manifest's one reproduce command.

Against the reference implementations (``--against-reference DIR``): for every family but WaveGrad (whose reference
is not our presets' network), the public reference code cloned by you under ``DIR`` (``git clone
https://github.com/jik876/hifi-gan DIR/hifi-gan``, likewise descriptinc/melgan-neurips, lmnt-com/diffwave,
NVIDIA/waveglow and L0SG/WaveFlow into
``DIR/<repository name>``; nothing of it is shipped or copied) is imported, given our weights, checked to give our
output (the diffusion and flow references with their noise made ours), and timed interleaved with our plain and
prepared paths (:mod:`greenaudio.orchestration.reference_bench`, whose ``REFERENCES`` say how each runs); one
duration, ``--csv`` merges the table into a file of yours and ``--ship`` into
``resources/speed/against_reference_cpu.csv`` with its manifest row. A missing clone is refused, named with its ``git
clone``, before any work; a configuration the reference hard-codes otherwise (e.g. a WaveGlow upsampler kernel
other than 1024) is refused, named, when it is reached.

Example (core 0, 1 thread; the shipped CSV's ``command`` column lists the exact commands behind each of its rows):

    taskset -c 0 python scripts/bench_inference.py --sizes small --durations 1 --repeats 2 --rss --ship
    taskset -c 0 python scripts/bench_inference.py --models waveflow --sizes large --durations 10 --rss-only \\
        --rss-rows 2 --ship
    taskset -c 0 python scripts/bench_inference.py --sizes small medium large --durations 1 10 --rss --ship
"""

from __future__ import annotations

import argparse
import json
import subprocess  # noqa: F401 - the replay runs its commands through it (tests stand in for it)
import sys
from pathlib import Path

from greenaudio.orchestration import inference_bench as bench
# What the tests reach through this script: the resumable CSV's rules and the measurements a test stands in for.
from greenaudio.orchestration.inference_bench import (  # noqa: F401
    _TIMED_COLUMNS, SHIP_REPRODUCE, _is_done, _write_csv)
from greenaudio.orchestration.inference_bench import count_gflops as _count_gflops
from greenaudio.orchestration.inference_bench import generate as _run
from greenaudio.orchestration.inference_bench import measure_peak_gflops
from greenaudio.orchestration.inference_bench import ship_dir as _ship_dir


def _replay() -> int:
    return bench.replay(_ship_dir(), __file__)


def _against_reference(parser, args, raw_argv) -> int:
    """``--against-reference DIR``: the reference comparison (:mod:`greenaudio.orchestration.reference_bench`); every
    argument is checked before any model is built."""
    from greenaudio.orchestration import reference_bench as ref

    if args.rss or args.rss_only:
        parser.error("--against-reference times generate only: not with --rss or --rss-only")
    if args.ship and args.csv is not None:
        parser.error("--ship writes the package's reference comparison: give --ship or --csv, not both")
    models = args.models if "--models" in raw_argv else [m for m in args.models if m in ref.REFERENCES]
    try:
        ref.check_reference_root(args.against_reference, models)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    table = ref.compare_with_reference(args.against_reference, models, args.sizes, duration_s=args.durations[0],
                                       repeats=args.repeats, backends=tuple(args.backends), weights=args.weights,
                                       mel=args.mel, threads=args.threads)
    table["command"] = "python scripts/bench_inference.py " + " ".join(raw_argv)
    print(table[["model", "size", "path", "time_median_s", "speedup_vs_reference", "speedup_vs_plain",
                 "output_rel_l2_vs_reference"]].to_string(index=False))
    if args.ship:
        from greenaudio.chapters.inference_speed import REFERENCE_SPEED_FILE

        args.csv = _ship_dir() / Path(REFERENCE_SPEED_FILE).name
    if args.csv is not None:  # merged: rows of other configurations already in the file are kept, in their order
        from greenaudio.files import merge_keyed_csv

        merge_keyed_csv(args.csv, table.to_dict("records"), ref.row_key, ref.COLUMNS)
        print(f"merged {len(table)} rows into {args.csv}")
    if args.ship:
        print(f"wrote {bench.write_manifest(_ship_dir())}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from greenaudio import vocoders
    from greenaudio.vocoders.base import INFERENCE_BACKENDS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=vocoders.names(), choices=vocoders.names())
    p.add_argument("--sizes", nargs="+", default=list(vocoders.THESIS_SIZES), choices=list(vocoders.THESIS_SIZES))
    p.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0], help="seconds of audio")
    p.add_argument("--backends", nargs="+", default=list(bench.DEFAULT_BACKENDS), choices=list(INFERENCE_BACKENDS),
                   help="prepared backends to compare with the plain path; one unavailable here (package, "
                        "instruction set) or not implemented by the family gets a row saying why (default: the "
                        "float32 ones, %(default)s; bf16 and int8 on request)")
    p.add_argument("--weights", choices=("fresh", "trained"), default="fresh",
                   help="fresh initialisation (seed 0, the cost chapter's) or the zoo's trained weights where it "
                        "ships them (the weights column says which ran)")
    p.add_argument("--mel", choices=("random", "speech"), default="random",
                   help="a random uniform mel (seed 0) or a real one (the offline corpus's test clips joined)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rss", action="store_true", help="also measure peak RSS in a fresh subprocess per cell")
    p.add_argument("--rss-only", action="store_true", help="only peak RSS (no timing, no FLOPs)")
    p.add_argument("--rss-rows", type=int, default=0, help="WaveFlow RSS: stop after this many rows (0: full run)")
    p.add_argument("--compile-timeout-s", type=float, default=1800.0,
                   help="give up on a compile backend whose first call (compilation + one generate) takes longer; "
                        "its row then says so (status compile-timeout)")
    p.add_argument("--csv", type=Path, default=None, help="merge the rows into this CSV (resumes: configurations "
                   "already measured there under the same settings on this machine are not measured again)")
    p.add_argument("--ship", action="store_true", help="merge into the package's shipped CSV and rewrite its "
                   "sha256 manifest (resources/speed/manifest.csv)")
    p.add_argument("--force", action="store_true", help="measure even configurations the CSV already holds")
    p.add_argument("--manifest-only", action="store_true", help="only rewrite the shipped manifest")
    p.add_argument("--replay", action="store_true", help="re-run the commands recorded in the shipped file "
                   "(--force) and rewrite its manifest")
    p.add_argument("--against-reference", type=Path, default=None, metavar="DIR",
                   help="time the public reference implementations cloned under DIR (hifi-gan/, melgan-neurips/, "
                        "diffwave/, waveglow/, WaveFlow/) against our plain and prepared paths, same "
                        "weights, noise and output checked, interleaved; "
                        "one duration (the first of --durations), --models limited to those with an adapter; "
                        "the code under DIR is imported and run: give only clones you trust")
    p.add_argument("--_rss-cell", nargs=5, default=None, help=argparse.SUPPRESS)
    raw_argv = list(argv if argv is not None else sys.argv[1:])
    args = p.parse_args(raw_argv)
    if args._rss_cell:
        name, size, seconds, variant, rows = args._rss_cell
        print(json.dumps(bench.rss_cell(name, size, float(seconds), variant, int(rows))))
        return 0
    if args.manifest_only:
        print(f"wrote {bench.write_manifest(_ship_dir())}")
        return 0
    if args.replay:
        return _replay()
    if args.repeats < 1 or args.threads < 1 or any(d <= 0 for d in args.durations) or args.compile_timeout_s <= 0:
        p.error("--repeats and --threads must be >= 1, durations and --compile-timeout-s > 0")
    if args.ship and args.csv is not None:
        p.error("--ship writes the package's CSV: give --ship or --csv, not both")
    if args.against_reference is not None:
        return _against_reference(p, args, raw_argv)
    if args.ship:
        from greenaudio.chapters.inference_speed import INFERENCE_SPEED_FILE

        args.csv = _ship_dir() / Path(INFERENCE_SPEED_FILE).name
    return bench.run(args, raw_argv, script=__file__, measure_roof=measure_peak_gflops, count=_count_gflops,
                     run_model=_run)


if __name__ == "__main__":
    sys.exit(main())
