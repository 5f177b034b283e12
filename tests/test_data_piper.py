"""The shipped results of the Piper corpus trial (greenaudio.data.piper.load_piper_trial); the corpus itself is tested
with its script in tests/test_trial_piper_corpus.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from greenaudio.data import piper as piper_module


def test_the_shipped_trial_is_read_from_its_files_and_an_altered_file_is_refused(tmp_path):
    import json
    import shutil

    from greenaudio.data.piper import load_piper_trial
    from greenaudio.files import ArtefactError

    shipped = Path(piper_module.__file__).resolve().parents[1] / "resources" / "piper_trial"
    scores = json.loads((shipped / "scores.json").read_text())
    train = json.loads((shipped / "train.json").read_text())
    trial = load_piper_trial()  # needs no Piper installation
    assert (trial.budget_s, trial.clock, trial.steps) == (train["budget_s"], train["clock"], train["step"])
    assert trial.val_mel == train["records"][-1]["val_mel"]
    rows = trial.scores.set_index(["trained_on", "scored_on"])
    assert rows.loc[("Piper", "Piper"), "stoi"] == scores["piper_trained_on_piper_clips"]["stoi"]
    assert rows.loc[("espeak-ng", "Piper"), "stoi"] == scores["espeak_shipped_on_piper_clips"]["stoi"]
    assert rows.loc[("espeak-ng", "espeak-ng"), "pesq_wb"] == scores["espeak_shipped_on_espeak_clips"]["pesq_wb"]
    # the espeak run's steps: the last row of the shipped HiFi-GAN small curve
    curve = pd.read_csv(shipped.parent / "zoo" / "mini" / "hifigan-small" / "curves.csv")
    assert trial.espeak_steps == int(curve.step.iloc[-1])
    # its validation D_STFT at the Piper run's step lies between the two logged points around that step
    before, after = curve[curve.step <= trial.steps].iloc[-1], curve[curve.step >= trial.steps].iloc[0]
    assert min(before.d_stft, after.d_stft) <= trial.espeak_val_d_stft <= max(before.d_stft, after.d_stft)
    copy = tmp_path / "trial"
    shutil.copytree(shipped, copy)
    (copy / "scores.json").write_text((copy / "scores.json").read_text().replace("0.", "0.9", 1))
    with pytest.raises(ArtefactError, match="sha256 mismatch"):
        load_piper_trial(copy)
    assert load_piper_trial(tmp_path / "nothing") is None