"""The corpus trial of the trained-zoo issue: does a short mini training on natural (Piper VITS) speech buy more
than on the espeak-ng corpus? HiFi-GAN small under the zoo's mini protocol with a 600 process-CPU-second budget on
the Piper corpus, scored on held-out Piper clips beside the shipped espeak model on espeak and on Piper clips.

Writes ``train.json`` (the run's validation log) and ``scores.json`` into ``--out`` and, with ``--ship``, into the
package's ``resources/piper_trial`` with a sha256 manifest (:mod:`greenaudio.manifests`). Needs the ``piper`` extra
(``pip install 'greenaudio[piper]'``); ~10 CPU-minutes of training plus ~5 to build the corpus on one thread.

Usage: python scripts/trial_piper_corpus.py [--budget-s 600] [--clips 16] [--out DIR] [--ship]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python scripts/trial_piper_corpus.py --ship"


def _scores(model, dataset, n: int) -> dict:
    import numpy as np
    import torch

    from greenaudio import evaluation

    items = [dataset[i] for i in range(n)]
    audio, mels = np.stack([a.numpy() for a, _ in items]), torch.stack([m for _, m in items])
    rec = evaluation.evaluate_vocoder(model, audio, mels, model_name="hifigan", size="small",
                                      metrics=("d_stft", "pesq_wb", "stoi"))
    return {**rec.metrics, "n_clips": rec.n_clips, "n_clipped": rec.n_clipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=600.0, help="process-CPU seconds of training")
    parser.add_argument("--clips", type=int, default=16, help="held-out clips scored")
    parser.add_argument("--out", type=Path, default=None, help="where the JSON files go (default: a temporary folder)")
    parser.add_argument("--ship", action="store_true", help="also write them into resources/piper_trial")
    args = parser.parse_args(argv)
    if args.budget_s <= 0 or args.clips < 1:
        parser.error(f"--budget-s must be > 0 and --clips >= 1, got {args.budget_s} and {args.clips}")
    import torch

    from greenaudio import data
    from greenaudio.experiments import zoo
    from greenaudio.experiments.artefacts import load_shipped_model
    from greenaudio.manifests import file_row, write_manifest
    from greenaudio.training import atomic_write_text, load_checkpoint

    out = args.out or Path(tempfile.mkdtemp(prefix="piper-trial-"))
    train, test = data.load_piper_speech("train"), data.load_piper_speech("test")
    protocol = zoo.get_protocol("mini").replace(budget_s={"small": args.budget_s, "medium": 300.0, "large": 300.0})
    run = zoo.train_configuration("hifigan", "small", protocol, train, test, root=out / "runs", progress=False)
    r = run.result
    train_record = {"step": r.step, "elapsed_s": r.elapsed_s, "stop": r.stop_reason, "budget_s": args.budget_s,
                    "clock": protocol.clock, "threads": protocol.threads, "voice": data.piper_voice_info(),
                    "records": r.records}
    torch.set_num_threads(protocol.threads)
    espeak_test = data.load_espeak_speech("test")
    shipped = load_shipped_model("hifigan-small")
    scores = {"piper_trained_on_piper_clips": {"step": r.step, **_scores(load_checkpoint(run.run_dir).model.eval(),
                                                                         test, args.clips)},
              "espeak_shipped_on_espeak_clips": _scores(shipped, espeak_test, args.clips),
              # the espeak model vocoding Piper mels normalised with espeak's training statistics
              "espeak_shipped_on_piper_clips": _scores(
                  shipped, data.load_piper_speech("test", normalizer=espeak_test.normalizer), args.clips)}
    targets = [out] + ([ROOT / "lib" / "greenaudio" / "resources" / "piper_trial"] if args.ship else [])
    for folder in targets:
        atomic_write_text(folder / "train.json", json.dumps(train_record, indent=1, default=str) + "\n")
        atomic_write_text(folder / "scores.json", json.dumps(scores, indent=1) + "\n")
        provenance = (f"measured: HiFi-GAN small, zoo mini protocol, {args.budget_s:g} {protocol.clock}-CPU seconds "
                      f"on the Piper corpus; held-out scores on {args.clips} clips (greenaudio.evaluation); torch "
                      f"{torch.__version__}")
        write_manifest(folder, [file_row(folder / "train.json", provenance, COMMAND),
                                file_row(folder / "scores.json", provenance, COMMAND)])
        print(f"wrote {folder / 'train.json'} and {folder / 'scores.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
