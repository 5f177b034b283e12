"""CPU speed of the 18 vocoder configurations, through the one harness (``greenaudio.orchestration.bench``).

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
    from greenaudio.orchestration.bench import bench_vocoders

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "results" / "bench-vocoders.sqlite"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--ship", action="store_true", help="export the records into the package's resources")
    args = parser.parse_args(argv)
    ship_to = ROOT / "lib" / "greenaudio" / "resources" / "benchmarks" if args.ship else None
    return bench_vocoders(args.store, threads=args.threads, models=args.models, ship_to=ship_to)


if __name__ == "__main__":
    sys.exit(main())
