"""The WaveFlow study's runner (thesis §4.3.2, the quality column of Figure 28): WF1–WF5 trained one after another at
one equal budget, scored on held-out clips and shipped with a sha256 manifest; resumable.

Used by: ``greenaudio waveflow-study`` (:mod:`greenaudio.cli`; ``--verify`` checks the shipped folder with
:func:`~greenaudio.chapters.waveflow.verify_study_manifest`).

The protocols, the configurations and everything the chapter computes from the shipped folder are
:mod:`greenaudio.chapters.waveflow`; the held-out scores are :func:`greenaudio.evaluation.generate_and_score`'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..chapters import zoo
from ..chapters.waveflow import (CONFIGURATIONS, STUDY_MANIFEST_COLUMNS, StudyProtocol, check_configurations,
                                 default_study_dir, get_study_protocol, read_scores, verify_study_manifest)
from ..evaluation import generate_and_score
from ..files import atomic_write_text, file_row, sha256_file, upsert_rows
from ..host import read_git_commit
from ..training.energy import codecarbon_cpu_training_energy
from ..validation import check_finite_number

#: ``run_study``, and the chapter's checks the CLI runs before any work (``--verify``: the shipped folder's sha256).
__all__ = ["run_study", "get_study_protocol", "check_configurations", "verify_study_manifest"]


def _reproduce(protocol: StudyProtocol, config: str) -> str:
    budget = protocol.training.budget_for(config)
    return f"greenaudio waveflow-study --protocol {protocol.name} --configs {config} --budget-s {budget:g}"


def _score_held_out(model, test_set, protocol: StudyProtocol) -> dict[str, Any]:
    """The protocol's metrics on the first ``score_clips`` clips of the test split (seed ``sample_seed``)."""
    import torch

    audio = test_set.audio_array()
    n = min(protocol.score_clips, len(audio))
    mels = torch.stack([test_set[i][1] for i in range(n)])
    scored = generate_and_score(model, mels, audio[:n], metrics=protocol.score_metrics, seed=protocol.sample_seed,
                                batch_size=8, sample_rate=int(test_set.sample_rate))
    return {**scored.means, "n_clips": n, "n_clipped": scored.n_clipped}


def _training_record(config: str, summary: dict[str, Any], protocol: StudyProtocol, key: str, corpus: Any,
                     commit: str | None) -> dict[str, Any]:
    """``<config>/training.json``: the trainer's ``zoo_run.json`` summary, the settings and the energy estimate."""
    cpu_s = float(summary["budget_elapsed_s"]) if summary["clock"] == "process" else None
    record = {"config": config, "study_key": key, "protocol": protocol.to_dict(), "corpus": corpus,
              "steps": summary["step"], "clock": summary["clock"], "budget_s": protocol.training.budget_for(config),
              "budget_elapsed_s": summary["budget_elapsed_s"], "cpu_time_s": cpu_s,
              "wall_s": summary.get("wall_s_total"), "threads": summary["threads"],
              "device": protocol.training.device, "torch": summary.get("torch"), "commit": commit,
              "code_fingerprint": summary.get("code_fingerprint"), "stop_reason": summary.get("stop_reason"),
              "reproduce": _reproduce(protocol, config)}
    if cpu_s is not None:
        energy = codecarbon_cpu_training_energy(cpu_s)
        record.update({"train_energy_j": energy["energy_j"], "train_energy_method": energy["energy_method"],
                       "train_energy_constants": json.dumps(energy["energy_constants"], sort_keys=True)})
    return record


def _scores_row(record: dict[str, Any], sample_seed: int, scores: dict[str, Any]) -> dict[str, Any]:
    """The configuration's row of ``scores.csv``."""
    row = {k: record[k] for k in ("config", "study_key", "steps", "budget_s", "clock", "cpu_time_s", "wall_s",
                                  "threads", "device", "commit")}
    row["sample_seed"] = sample_seed
    row.update({k: record[k] for k in ("train_energy_j", "train_energy_method", "train_energy_constants")
                if k in record})
    row.update(scores)
    row["reproduce"] = record["reproduce"]
    return row


def _ship_configuration(out: Path, run_dir: Path, protocol: StudyProtocol, record: dict[str, Any],
                        scores: dict[str, Any]) -> None:
    """Write the configuration's training record, curves, scores row and manifest rows (each atomically)."""
    from ..training import load_training_log

    config, reproduce = record["config"], record["reproduce"]
    folder = out / config
    atomic_write_text(folder / "training.json", json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    atomic_write_text(folder / "curves.csv", pd.DataFrame(load_training_log(run_dir)).to_csv(index=False))
    manifest = [
        file_row(folder / "training.json", "the trainer's zoo_run.json + energy estimate (CodeCarbon CPU process "
                 "rule)", reproduce, folder=out, config=config, kind="training-record"),
        file_row(folder / "curves.csv", "validation log of the run", reproduce, folder=out, config=config,
                 kind="curves"),
    ]
    upsert_rows(out / "scores.csv", "config", [_scores_row(record, protocol.sample_seed, scores)])
    manifest.append(file_row(out / "scores.csv", "held-out scores (all configurations)", reproduce, folder=out,
                             config=config, kind="scores"))
    upsert_rows(out / "manifest.csv", "path", manifest)
    _refresh_scores_hash(out)


def _refresh_scores_hash(out: Path) -> None:
    """``scores.csv`` changes with every configuration: its single manifest row carries its current hash."""
    path = out / "manifest.csv"
    manifest = pd.read_csv(path, keep_default_na=False)
    scores = manifest["path"] == "scores.csv"
    manifest.loc[scores, "config"] = "all"
    manifest.loc[scores, "bytes"] = (out / "scores.csv").stat().st_size
    manifest.loc[scores, "sha256"] = sha256_file(out / "scores.csv")
    manifest.loc[scores, "reproduce"] = "greenaudio waveflow-study --protocol " + out.name
    atomic_write_text(path, manifest[STUDY_MANIFEST_COLUMNS].to_csv(index=False))


def _checked_protocol(protocol: str | StudyProtocol, budget_s: float | None) -> StudyProtocol:
    protocol = get_study_protocol(protocol)
    if budget_s is None:
        return protocol
    budget = check_finite_number("budget_s", budget_s, min_value=0.0, min_inclusive=False)
    return dataclasses.replace(protocol, training=protocol.training.replace(
        budget_s={c: budget for c in CONFIGURATIONS}))


def _train_and_ship(config: str, protocol: StudyProtocol, out: Path, runs: Path, corpora: tuple, key: str,
                    corpus: Any, commit: str | None, progress: bool) -> None:
    """Train one configuration (resuming its checkpoint), score it on held-out clips and ship its files."""
    import torch

    from ..training import load_checkpoint

    train_set, test_set = corpora
    run = zoo.train_configuration("waveflow", config, protocol.training, train_set, test_set, root=runs,
                                  progress=progress)
    summary = json.loads((run.run_dir / "zoo_run.json").read_text())
    torch.set_num_threads(protocol.training.threads)
    model = load_checkpoint(run.run_dir).model.eval()
    scores = _score_held_out(model, test_set, protocol)
    record = _training_record(config, summary, protocol, key, corpus, commit)
    _ship_configuration(out, run.run_dir, protocol, record, scores)


def run_study(protocol: str | StudyProtocol = "mini", configs: Iterable[str] | None = None, *,
              budget_s: float | None = None, out_root: str | os.PathLike | None = None,
              runs_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
              train_set=None, test_set=None, progress: bool = True, commit: str | None = None) -> pd.DataFrame:
    """Train the configurations one after another at one equal budget, score them, ship the results. Resumable.

    A configuration whose row in ``<out_root>/<protocol>/scores.csv`` was made under the same settings (protocol
    key and corpus) is skipped; an interrupted training resumes from its checkpoint (the zoo's run folders).

    Args:
        protocol: ``"mini"`` (300 process-CPU-seconds each, 1 thread, the zoo's mini corpus, crops and seed),
            ``"quick"``, or a :class:`~greenaudio.chapters.waveflow.StudyProtocol`.
        configs: subset of WF1–WF5 (default: all five).
        budget_s: replace the per-configuration budget (seconds on the protocol's clock; the key changes with it).
        out_root: parent of the shipped folder (default: the package's ``resources/waveflow_study``).
        runs_root: parent of the training run folders (default: ``<cache>/runs/waveflow_study``).
        cache_dir: the corpus cache (default: greenaudio's).
        train_set, test_set: datasets to use instead of the espeak corpus (tests).
        commit: code commit recorded (default: :func:`greenaudio.host.read_git_commit`).

    Writes ``scores.csv`` (one row per configuration), ``<config>/training.json`` and ``<config>/curves.csv``, and
    ``manifest.csv`` (path, bytes, sha256, provenance, reproduce command), each atomically.

    Returns:
        the scores table of the requested configurations.

    Raises:
        ValueError: unknown protocol or configuration, bad budget (before any work).
    """
    from .. import data

    protocol = _checked_protocol(protocol, budget_s)
    configs = check_configurations(configs)
    out = (Path(out_root) if out_root else default_study_dir()) / protocol.name
    cache = Path(cache_dir) if cache_dir else data.default_cache_dir()
    runs = Path(runs_root) if runs_root else cache / "runs" / "waveflow_study"
    if train_set is None:
        train_set = data.load_espeak_speech("train", cache_dir=cache)
    if test_set is None:
        test_set = data.load_espeak_speech("test", cache_dir=cache)
    corpus = zoo.corpus_fingerprint(train_set)
    key = protocol.key() + "-" + hashlib.sha256(json.dumps(corpus, sort_keys=True).encode()).hexdigest()[:8]
    done = read_scores(out)
    done_keys = dict(zip(done["config"], done["study_key"])) if not done.empty else {}
    commit = commit or read_git_commit()
    for k, c in enumerate(configs, 1):
        if done_keys.get(c) == key:
            print(f"[{k}/{len(configs)}] {c}: done under these settings, skipped", flush=True)
            continue
        print(f"[{k}/{len(configs)}] {c}: training, budget {protocol.training.budget_for(c):g} s "
              f"({protocol.training.clock})", flush=True)
        _train_and_ship(c, protocol, out, runs, (train_set, test_set), key, corpus, commit, progress)
    table = read_scores(out)
    return table[table["config"].isin(configs)].reset_index(drop=True)
