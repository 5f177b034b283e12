"""CPU speed of the 18 vocoder configurations, through the one harness (``greenaudio.measure.run_grid``).

A thin caller: it runs the grid under the models page's protocol (1 clip of 1 s at 16 kHz, 1 warm-up and 3 timed
runs, 1 thread) into a resumable store, and exports the records. Nothing is written into the package unless
``--ship`` is given; shipped records go to ``lib/greenaudio/resources/benchmarks/vocoders_cpu_<machine>.csv`` (one
file per machine, named from the records' own environment) and are never relabelled: an existing file of another
machine is never overwritten, and cells already measured are read back from the store, not re-dated.

Usage: python scripts/bench_vocoders.py [--store PATH] [--threads N] [--models ...] [--ship]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from greenaudio import measure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "results" / "bench-vocoders.sqlite"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--ship", action="store_true", help="export the records into the package's resources")
    args = parser.parse_args(argv)
    protocol = measure.SPEED_PROTOCOL.replace(threads=args.threads)
    result = measure.run_grid(args.models, ["small", "medium", "large"], store=args.store, protocol=protocol)
    out = Path(args.store).with_suffix(".csv")
    measure.save_records_csv(result.records, out)
    print(f"{len(result.computed)} cell(s) computed, {len(result.skipped)} read from {args.store}; records in {out}")
    if args.ship:
        load = "load average at the end " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) \
            if Path("/proc/loadavg").exists() else None
        path = measure.ship_records(result.records, ROOT / "lib" / "greenaudio" / "resources" / "benchmarks",
                                    load=load)
        print(f"shipped: {path}")
    return 1 if any(not r.ok for r in result.records) else 0


if __name__ == "__main__":
    sys.exit(main())
