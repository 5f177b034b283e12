"""The ``greenaudio`` command line.

Used by: README (quick start), notebooks/05_1_cost_benchmark.ipynb (for the long runs, outside the notebook).

``greenaudio bench`` measures a grid of the zoo's vocoders (parameters, GFLOPs per second of audio, real-time factor,
energy per 100 s of audio) into a resumable SQLite store and prints a summary table::

    greenaudio bench --models hifigan melgan --sizes small medium --device cpu --quick
    greenaudio bench --store results/05/bench.sqlite --csv results/05/bench.csv     # the thesis protocol, resumable
    greenaudio bench --store results/05/bench.sqlite --list                          # what the store holds

Exit status of ``bench``: 0 when every requested cell is ``ok``; 1 when any requested cell failed (computed now or
stored earlier); 2 for a configuration error (unknown model, size, hardware, procedure...), reported before any cell
runs and before the store is created.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser", "grid_command"]

SUMMARY_COLUMNS = [
    ("model", "model"),
    ("size", "size"),
    ("device", "device"),
    ("precision", "precision"),
    ("rep", "repetition"),
    ("status", "status"),
    ("params_M", "params"),
    ("GFLOPs/audio_s", "gflops_per_audio_s"),
    ("RTF median", "rtf_median"),
    ("RTF IQR", "rtf_iqr"),
    ("E_gen J/100 s", "e_gen_j_per_100_audio_s"),
    ("energy method", "energy_method"),
]


def _procedure_item(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"procedure settings are KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return key.strip(), parsed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``greenaudio``."""
    parser = argparse.ArgumentParser(prog="greenaudio", description="greenaudio: the executable edition's tools")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "bench",
        help="measure the inference cost of the vocoder zoo",
        description="Measure parameters, GFLOPs per second of audio, real-time factor and energy of vocoders "
        "(thesis §5.2.3, Table 8). Cells already in --store are skipped: an interrupted run resumes.",
    )
    b.add_argument("--models", nargs="+", default=None, help="registry names, case-insensitive (default: all six)")
    b.add_argument("--sizes", nargs="+", default=["small", "medium", "large"], help="presets (default: the thesis's)")
    b.add_argument("--device", nargs="+", default=["cpu"], help="cpu, cuda, cuda:1 ... (several allowed)")
    b.add_argument("--precision", nargs="+", default=["float32"], help="float32, float16, bfloat16 (several allowed)")
    b.add_argument("--clips", type=int, default=None, help="clips per run (thesis: 10)")
    b.add_argument("--duration", type=float, default=None, help="clip duration in seconds (thesis: 10)")
    b.add_argument("--sample-rate", type=int, default=None, help="sampling rate of the protocol in Hz (thesis: 16000)")
    b.add_argument("--batch-size", type=int, default=None, help="clips per forward call (default 1)")
    b.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 3)")
    b.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 1)")
    b.add_argument("--threads", type=int, default=None, help="torch threads during the measurement")
    b.add_argument("--idle-window", type=float, default=None, help="cap of the idle-baseline window in s (0: none)")
    b.add_argument("--repetitions", type=int, default=1, help="independent re-measurements of each cell")
    b.add_argument("--quick", action="store_true", help="reduced protocol (2 clips x 1 s, 2 repeats, no idle window)")
    b.add_argument("--store", default="results/bench.sqlite", help="SQLite results store (created if missing)")
    b.add_argument("--csv", default=None, help="also export the store's records of this grid to this CSV")
    b.add_argument("--energy", choices=["auto", "measured", "estimated"], default="auto", help="energy path")
    b.add_argument("--hardware", default=None, help="hardware catalogue name for estimates (greenaudio.carbon)")
    b.add_argument("--utilisation", type=float, default=1.0, help="fraction of max power assumed by estimates")
    b.add_argument("--cpu-cores-total", type=int, default=None, help="cores of the CPU package (CPU estimates)")
    b.add_argument("--procedure", nargs="*", type=_procedure_item, default=[], metavar="KEY=VALUE",
                   help="inference settings for every model, e.g. steps=50")
    b.add_argument("--no-flops", action="store_true", help="skip FLOP counting")
    b.add_argument("--retry-failed", action="store_true", help="recompute cells stored as failed")
    b.add_argument("--list", action="store_true", help="list the cells the store holds and exit (computes nothing)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_train_parser(sub)
    _add_grid_parser(sub)
    _add_waveflow_study_parser(sub)
    return parser


def _add_waveflow_study_parser(sub) -> None:
    """``greenaudio waveflow-study``: WF1-WF5 trained at one equal budget and scored (thesis §4.3.2), resumable."""
    w = sub.add_parser(
        "waveflow-study",
        help="train WF1-WF5 at one equal CPU-time budget, score them and ship the results (resumable)",
        description="The quality column of the WaveFlow intra-model study (greenaudio.orchestration.waveflow_study): "
        "each configuration is trained under the study protocol (mini: the zoo's mini corpus, crops and seed, 300 "
        "process-CPU-seconds on 1 thread), scored on held-out speech, and written with a sha256 manifest. "
        "Configurations already done under the same settings are skipped; interrupted trainings resume.",
    )
    w.add_argument("--protocol", default="mini", help="mini or quick (default: mini)")
    w.add_argument("--configs", nargs="+", default=None, help="wf1 ... wf5 (default: all five)")
    w.add_argument("--budget-s", type=float, default=None, help="budget per configuration in seconds (default: "
                   "the protocol's)")
    w.add_argument("--out-root", default=None, help="where results go (default: the package's "
                   "resources/waveflow_study)")
    w.add_argument("--runs", default=None, help="parent of the run folders (default: <cache>/runs/waveflow_study)")
    w.add_argument("--verify", action="store_true", help="only check the shipped files' sha256, train nothing")
    w.add_argument("--no-progress", action="store_true", help="no progress bars")


def _waveflow_study(args: argparse.Namespace) -> int:
    from .orchestration import waveflow_study

    if args.verify:
        manifest = waveflow_study.verify_study_manifest(args.protocol, args.out_root)
        print(f"{len(manifest)} shipped file(s) match their sha256")
        return 0
    waveflow_study.get_study_protocol(args.protocol)
    waveflow_study.check_configurations(args.configs)
    table = waveflow_study.run_study(args.protocol, args.configs, budget_s=args.budget_s, out_root=args.out_root,
                                     runs_root=args.runs, progress=not args.no_progress)
    print(table.to_string(index=False))
    return 0


def _add_train_parser(sub) -> None:
    """``greenaudio train``: the zoo under a named protocol (greenaudio.orchestration.zoo), resumable."""
    t = sub.add_parser(
        "train",
        help="train the vocoder zoo under a protocol (quick, mini, full); resumes and skips finished runs",
        description="Train the vocoder zoo under a named protocol (see greenaudio.chapters.zoo.PROTOCOLS). Runs "
        "resume from their last checkpoint; finished configurations are reused. --export writes each finished "
        "configuration's weights, samples, curves and scores with a sha256 manifest (greenaudio.orchestration.export).",
    )
    t.add_argument("--protocol", default="mini", help="quick, mini or full (default: mini)")
    t.add_argument("--models", nargs="+", default=None, help="registry names, case-insensitive (default: all six)")
    t.add_argument("--sizes", nargs="+", default=None, help="presets (default: the protocol's sizes)")
    t.add_argument("--runs", default=None, help="parent folder of the run folders (default: <cache>/runs/zoo)")
    t.add_argument("--export", action="store_true", help="export each finished configuration's artefacts")
    t.add_argument("--export-root", default=None, help="where artefacts go (default: the package's resources/zoo)")
    t.add_argument("--export-clips", type=int, default=None,
                   help="score the first N held-out clips (default: all; the slowest models use a prefix)")
    t.add_argument("--export-digits", default="always", help="always, if-best (only a family's best held-out "
                   "D_STFT so far) or never: when the 100 held-out digits are resynthesised and classified")
    t.add_argument("--no-export-baseline", action="store_true",
                   help="do not train and score the quick protocol's 3-step model beside each exported one")
    t.add_argument("--verify", action="store_true", help="only re-verify the shipped artefacts, train nothing")
    _add_grid_arguments(t, with_selection=False)  # --ray-address: train -> evaluate -> measure, one task per cell


def _add_grid_arguments(parser, *, with_selection: bool = True) -> None:
    """The cluster options of ``greenaudio grid`` (and, without the model selection, of ``greenaudio train``)."""
    if with_selection:
        parser.add_argument("--protocol", default="mini", help="zoo protocol: quick, mini or full (default: mini)")
        parser.add_argument("--models", nargs="+", default=None, help="registry names (default: all six)")
        parser.add_argument("--sizes", nargs="+", default=None, help="presets (default: the protocol's sizes)")
    parser.add_argument("--ray-address", default=None, metavar="auto|ray://HOST:PORT|HOST:PORT",
                        help="run one Ray task per configuration on this cluster (default: sequentially here)")
    parser.add_argument("--shared-dir", default=None,
                        help="folder every node sees, for checkpoints and attempt logs (default: <cache>/runs/grid)")
    parser.add_argument("--store", dest="grid_store", default="results/zoo_grid.sqlite",
                        help="SQLite store written by this driver only (default: results/zoo_grid.sqlite)")
    parser.add_argument("--num-cpus", type=float, default=None, help="CPUs each cell asks for")
    parser.add_argument("--num-gpus", type=float, default=None, help="GPUs each cell asks for")
    parser.add_argument("--memory-gb", type=float, default=None, help="memory each cell asks for (GB)")
    parser.add_argument("--max-retries", type=int, default=2, help="re-runs of a cell whose worker died")
    parser.add_argument("--cell-timeout", type=float, default=None, help="cancel a cell after this many seconds")
    parser.add_argument("--retry-failed", dest="grid_retry_failed", action="store_true",
                        help="recompute cells stored as failed")


def _add_grid_parser(sub) -> None:
    """``greenaudio grid``: train -> evaluate -> measure every configuration, on Ray or sequentially."""
    g = sub.add_parser(
        "grid", help="train, evaluate and measure the zoo, one Ray task per configuration (or sequentially)",
        description="The zoo grid (greenaudio.orchestration.zoo): per configuration, train under a zoo protocol, "
        "score the trained model and measure its inference cost. Completed cells in --store are skipped; the driver "
        "alone writes the store. Without --ray-address the cells run one after another in this process.")
    _add_grid_arguments(g)


def _use_protocol_threads(protocol) -> None:
    """Torch threads of the driver as the sequential path leaves them (``train_configuration`` sets the protocol's):
    an export's generated samples and scores are then the same files, whichever runner trained the weights."""
    import torch

    torch.set_num_threads(protocol.threads)


def grid_command(args, *, protocol=None, models=None, sizes=None) -> int:
    """Run ``greenaudio grid`` (or ``train --ray-address``); exit status 0 when every cell is ok, 1 otherwise."""
    from . import data
    from .orchestration import zoo

    shared = args.shared_dir or str(data.default_cache_dir() / "runs" / "grid")
    runs_dir = getattr(args, "runs", None)  # ``train --runs``: the same run folders as the sequential ``train``
    on_record = _grid_exporter(args, protocol, shared, runs_dir) if getattr(args, "export", False) else None
    result = zoo.run_zoo_grid(models if models is not None else args.models, sizes if sizes is not None else args.sizes,
                              protocol=protocol or args.protocol, shared_dir=shared, store=args.grid_store,
                              ray_address=args.ray_address, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                              memory_gb=args.memory_gb, max_retries=args.max_retries,
                              cell_timeout_s=args.cell_timeout, retry_failed=args.grid_retry_failed,
                              on_record=on_record, on_skipped=on_record, runs_dir=runs_dir)
    for rec in result.records:
        print(f"{rec.model}/{rec.size}\t{rec.status}\t{rec.training or '-'}\tsteps {rec.steps}\t{rec.scores}\t"
              f"{rec.error or ''}")
    print(f"{len(result.computed)} cell(s) computed ({len(result.failed)} failed), {len(result.skipped)} already in "
          f"{result.store} ({result.runner})")
    bad = [r for r in result.records if not r.ok]
    if bad:
        print(f"greenaudio grid: {len(bad)} cell(s) failed", file=sys.stderr)
        return 1
    return 0


def _grid_exporter(args, protocol, shared: str, runs_dir):
    """``train --export --ray-address``: the driver alone writes the artefacts, from the shared run folders, of every
    ok cell (computed now, or already in the store)."""
    from .chapters.zoo import get_protocol
    from .orchestration import export, zoo
    from .orchestration.executors import check_ray_address_form

    if args.ray_address is not None:
        check_ray_address_form(args.ray_address)  # before the export context's work
    zoo_protocol = get_protocol(protocol or args.protocol)
    ctx = export.build_context(zoo_protocol.name, args.export_root)
    export.export_ground_truth(ctx)

    def export_record(rec) -> None:
        if rec.ok:
            _use_protocol_threads(zoo_protocol)
            row = export.export_configuration(zoo.cell_run_dir(shared, rec, runs_dir), ctx)
            print(f"exported {row['config']}: D_STFT {row['d_stft']:.4f}, PESQ-WB {row['pesq_wb']:.2f}", flush=True)

    return export_record


def _canonical_models(models: Sequence[str] | None) -> list[str]:
    """``--models`` in the registry's spelling, case-insensitive as the registry ("HiFiGAN" is "hifigan"); all six
    when none is given.

    Raises:
        ValueError: unknown model(s), listing them and the valid names.
    """
    from . import vocoders
    from .validation import check_choice

    valid = vocoders.names()
    if not models:
        return valid
    bad = [m for m in models if not any(m.strip().casefold() == v.casefold() for v in valid)]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from {valid} (case-insensitive)")
    return [check_choice("model", m, valid) for m in models]


def _train(args: argparse.Namespace) -> int:
    from .chapters.zoo import get_protocol
    from .orchestration import export, zoo

    if args.verify:
        table = export.verify_artefacts(get_protocol(args.protocol).name, args.export_root)
        print(table.to_string(index=False))
        return 0
    protocol = get_protocol(args.protocol)
    models = _canonical_models(args.models)
    sizes = args.sizes or list(protocol.budget_s)
    bad = [s for s in sizes if s not in protocol.budget_s]
    if bad:
        raise ValueError(f"unknown size(s) {bad}; choose from {sorted(protocol.budget_s)}")
    options = export.ExportOptions(n_clips=args.export_clips, digits=args.export_digits,
                                   baseline=not args.no_export_baseline)
    if args.ray_address:
        if options.cli_flags():
            raise ValueError(f"{options.cli_flags()} apply to the sequential export only; the --ray-address "
                             "export scores every held-out clip and digit without a baseline (drop the flags or "
                             "--ray-address)")
        return grid_command(args, protocol=protocol, models=models, sizes=sizes)
    on_done = None
    if args.export:
        ctx = export.build_context(protocol.name, args.export_root)
        export.export_ground_truth(ctx)

        def on_done(run):
            baseline = _train_quick_baseline(run, ctx, args.runs) if options.baseline else None
            row = export.export_run(run.run_dir, ctx, options, baseline=baseline)
            print(f"exported {row['config']}: D_STFT {row['d_stft']:.4f}, PESQ-WB {row['pesq_wb']:.2f} "
                  f"({row['n_clips']} held-out clips; digits {row['digit_note']})", flush=True)

    zoo.train_zoo(protocol, models=models, sizes=sizes, root=args.runs, on_done=on_done)
    return 0


def _train_quick_baseline(run, ctx, runs_root):
    """The run folder of the quick protocol's 3-step model of ``run``'s configuration, trained now (or reused: it
    resumes) under ``runs_root`` (default: beside the run's protocol folder): exporting never trains, so the export
    is handed it. The torch threads are left as they were."""
    import torch

    from .chapters.zoo import train_configuration

    threads = torch.get_num_threads()
    root = Path(runs_root) if runs_root is not None else Path(run.run_dir).parent.parent  # <root>/<protocol>/<run>
    quick = train_configuration(run.model, run.size, "quick", ctx.train_set, ctx.test_set, root=root, progress=False)
    torch.set_num_threads(threads)
    return quick.run_dir


def _fmt(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column == "params":
        return f"{value / 1e6:.3f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_summary(records: Sequence[Any]) -> str:
    """A plain-text table of benchmark records (one line per cell; failures show their error)."""
    header = [h for h, _ in SUMMARY_COLUMNS]
    rows = [[_fmt(getattr(r, c), c) for _, c in SUMMARY_COLUMNS] for r in records]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r, row in zip(records, rows):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if r.status != "ok":
            lines.append(f"    error: {r.error}")
    from greenaudio.measure import energy_method_label

    methods = list(dict.fromkeys(energy_method_label(r) for r in records if r.ok and r.energy_method))
    notes = sorted({n for r in records for n in (r.energy_notes or ())})
    if methods:
        lines.append("")
        lines.extend(f"energy: {m}" for m in methods)
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    if any(r.flops_method for r in records):
        lines.append("note: GFLOPs count matmul/conv operators only; element-wise operations are not counted")
    return "\n".join(lines)


LIST_COLUMNS = ("model", "size", "device", "precision", "protocol_key", "procedure_key", "energy_key", "env_key",
                "repetition", "status", "energy_method", "created_utc", "code_version")


def format_store_listing(records: Sequence[Any]) -> str:
    """One line per stored cell: its full key, status, energy method, date and code version (tab-separated)."""
    lines = ["\t".join(LIST_COLUMNS)]
    lines += ["\t".join("-" if getattr(r, c) is None else str(getattr(r, c)) for c in LIST_COLUMNS) for r in records]
    return "\n".join(lines)


def _bench_list(path: str) -> int:
    from greenaudio import measure

    if not Path(path).exists():
        print(f"greenaudio bench: no results store at {path!r} (nothing listed, nothing created)", file=sys.stderr)
        return 1
    with measure.ResultStore(path) as store:
        records = store.records()
    print(format_store_listing(records))
    print(f"\n{len(records)} cell(s) in {path} ({sum(not r.ok for r in records)} failed)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from greenaudio import measure
    from greenaudio.orchestration import bench

    if args.list:
        return _bench_list(args.store)

    base = measure.QUICK_PROTOCOL if args.quick else measure.THESIS_PROTOCOL
    changes = {
        "n_clips": args.clips,
        "clip_duration_s": args.duration,
        "sample_rate": args.sample_rate,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "threads": args.threads,
        "idle_window_s": args.idle_window,
    }
    protocol = base.replace(**{k: v for k, v in changes.items() if v is not None})
    grid = dict(devices=args.device, precisions=args.precision, protocol=protocol, repetitions=args.repetitions)
    settings = dict(energy_mode=args.energy, hardware=args.hardware, utilisation=args.utilisation,
                    cpu_cores_total=args.cpu_cores_total, procedure=dict(args.procedure) or None,
                    with_flops=not args.no_flops)
    bench.plan_grid(args.models, args.sizes, **grid, **settings)  # configuration errors: before any store exists
    if args.csv:  # an unwritable --csv path fails now, not after the measurements
        from greenaudio.measure.store import check_output_file

        check_output_file(args.csv, "--csv file")
    with measure.ResultStore(args.store) as store:
        result = bench.run_bench_grid(args.models, args.sizes, store=store, retry_failed=args.retry_failed,
                                      progress=not args.no_progress, **grid, **settings)
        print(format_summary(result.records))
        print(
            f"\n{len(result.computed)} cell(s) computed ({len(result.failed)} failed), {len(result.skipped)} already in "
            f"{args.store}; protocol {protocol.key()}"
        )
        if args.csv:
            path = measure.save_records_csv(result.records, args.csv)
            print(f"CSV written to {path}")
    bad = [r for r in result.records if not r.ok]
    if bad:
        print(f"greenaudio bench: {len(bad)} of {len(result.records)} requested cell(s) failed (see 'error:' lines; "
              "a failed cell is retried when the code or a setting changes, or with --retry-failed)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``greenaudio`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "train":
            return _train(args)
        if args.command == "grid":
            return grid_command(args)
        if args.command == "waveflow-study":
            return _waveflow_study(args)
    except ValueError as exc:
        print(f"greenaudio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
