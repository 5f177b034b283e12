"""The corpus trial (issue 16, not adopted): the same 320 sentences spoken by a Piper (VITS) voice, on which
HiFi-GAN small was trained under the zoo's mini protocol. Only its shipped results are read here
(:func:`load_piper_trial`, for the quality chapter); the corpus itself (synthesis, cache, dataset) lives with the trial
in ``scripts/trial_piper_corpus.py``, which needs the optional ``piper`` extra and wrote the files read here.

Used by: notebooks/05_2_quality.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_piper_trial"]


@dataclass(frozen=True, eq=False)
class PiperTrial:
    """The corpus trial's result (issue 16), read from the shipped ``resources/piper_trial`` files.

    Attributes:
        budget_s, clock: the training budget (CPU seconds of the ``clock``, e.g. ``"process"``) of the Piper run.
        steps: optimisation steps the Piper run made within it.
        val_mel, val_d_stft: its last validation mel-L1 and D_STFT (4 validation clips), at step ``steps``.
        espeak_val_mel, espeak_val_d_stft: the shipped espeak run's (HiFi-GAN small, mini protocol) at the same step,
            interpolated linearly from its validation curve.
        espeak_steps: the steps the shipped espeak run made (its whole budget).
        scores: one row per (trained on, scored on): ``trained_on``, ``scored_on``, ``steps``, ``n_clips``,
            ``d_stft``, ``pesq_wb``, ``stoi`` (held-out clips).
        provenance: the manifest's provenance of the trial's files.
    """

    budget_s: float
    clock: str
    steps: int
    val_mel: float
    val_d_stft: float
    espeak_val_mel: float
    espeak_val_d_stft: float
    espeak_steps: int
    scores: "pd.DataFrame"
    provenance: str


def load_piper_trial(folder: str | Path | None = None) -> PiperTrial | None:
    """The corpus trial's numbers, from the shipped ``resources/piper_trial`` files (sha256 checked; written by
    ``scripts/trial_piper_corpus.py --ship``) and the shipped espeak run's validation curve at the same step. Needs no
    Piper installation. None when the trial is not shipped.

    Raises:
        greenaudio.files.ArtefactError: a trial file missing from, altered against or not listed in
            the folder's ``manifest.csv``.
    """
    import pandas as pd

    from ..files import verify_listed_file

    resources = Path(__file__).resolve().parents[1] / "resources"
    folder = Path(folder) if folder is not None else resources / "piper_trial"
    if not (folder / "scores.json").is_file():
        return None
    for name in ("train.json", "scores.json"):
        verify_listed_file(folder / name, how_to_ship="python scripts/trial_piper_corpus.py --ship")
    train = json.loads((folder / "train.json").read_text())
    scores = json.loads((folder / "scores.json").read_text())
    last = train["records"][-1]
    espeak = pd.read_csv(resources / "zoo" / "mini" / "hifigan-small" / "curves.csv")
    at = {c: float(np.interp(last["step"], espeak["step"], espeak[c])) for c in ("val_mel", "d_stft")}
    espeak_steps = int(espeak["step"].max())
    rows = [("Piper", "Piper", int(train["step"]), scores["piper_trained_on_piper_clips"]),
            ("espeak-ng", "espeak-ng", espeak_steps, scores["espeak_shipped_on_espeak_clips"]),
            ("espeak-ng", "Piper", espeak_steps, scores["espeak_shipped_on_piper_clips"])]
    table = pd.DataFrame([{"trained_on": trained, "scored_on": scored, "steps": steps, "n_clips": int(s["n_clips"]),
                           "d_stft": float(s["d_stft"]), "pesq_wb": float(s["pesq_wb"]), "stoi": float(s["stoi"])}
                          for trained, scored, steps, s in rows])
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    return PiperTrial(budget_s=float(train["budget_s"]), clock=str(train["clock"]), steps=int(train["step"]),
                      val_mel=float(last["val_mel"]), val_d_stft=float(last["d_stft"]),
                      espeak_val_mel=at["val_mel"], espeak_val_d_stft=at["d_stft"], espeak_steps=espeak_steps,
                      scores=table, provenance="; ".join(sorted(set(manifest.provenance))))
