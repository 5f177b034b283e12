"""Score DNSMOS (P.835 OVRL, SIG, BAK and P.808) for the shipped trained zoo and ship the result with its manifest row.

Every configuration and the ground truth are scored on their shipped samples; the ground truth and the configurations
with shipped weights also on the held-out clips the export scored, regenerated from the weights (their held-out
D_STFT is checked against scores.csv first). The table is written to
``lib/greenaudio/resources/zoo/<protocol>/dnsmos.csv`` (or ``--root``) and listed in that folder's manifest.

    python scripts/score_dnsmos.py --protocol mini              # everything (41 min on 2 loaded cores)
    python scripts/score_dnsmos.py --protocol mini --no-held-out # the shipped samples only (2-3 min)
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="mini")
    parser.add_argument("--root", default=None, help="zoo folder (default: the package's resources/zoo)")
    parser.add_argument("--configs", nargs="*", default=None, help="only these configurations (default: all)")
    parser.add_argument("--no-held-out", action="store_true", help="score the shipped samples only")
    args = parser.parse_args(argv)

    from greenaudio.orchestration import export

    start = time.monotonic()

    def progress(config: str, clips: str, n: int) -> None:
        print(f"[{time.monotonic() - start:6.0f} s] {config}: {n} {clips} clips", file=sys.stderr, flush=True)

    table = export.score_dnsmos(args.protocol, args.root, held_out=not args.no_held_out, configs=args.configs,
                                progress=progress)
    path = export.ship_dnsmos(table, args.protocol, args.root)
    print(table[["config", "clips", "n_clips", "ovrl_mos", "sig_mos", "bak_mos", "p808_mos"]].to_string(index=False))
    print(f"wrote {path.name} and its manifest row", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
