"""Shipped artefacts of the trained zoo: weights, samples, curves and scores, with a sha256 manifest, re-verifiable.

Used by: ``greenaudio train --export``, notebooks/05_2_quality (reads and spot-verifies the shipped results),
the listening test (samples), Chapter 6 (trained weights).

Layout of ``<root>/<protocol>/`` (default root: the package's ``resources/zoo``)::

    manifest.csv                 one row per file: config, kind, path, bytes, sha256, provenance, reproduce
    scores.csv                   one row per configuration (and the ground truth): training record and scores
    dnsmos.csv                   DNSMOS per configuration and clip set (scripts/score_dnsmos.py; :func:`ship_dnsmos`)
    <model>-<size>/weights.pt    weights and config (only where the fp32 checkpoint is <= WEIGHTS_LIMIT_BYTES)
    <model>-<size>/training.json the training record (steps, CPU and wall time, threads, energy with its method)
    <model>-<size>/curves.csv    the validation log over training time
    samples/<utterance>/<model>-<size>.flac and samples/<utterance>/ground_truth.flac

Every sample is generated from the mel of the *shipped* ground-truth FLAC (decoded, then the thesis's front-end and
the corpus's normaliser, both recorded), with a seed recorded, so :func:`verify_artefacts` can regenerate it from the
shipped files alone and compare its D_STFT and PESQ with the manifest's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "WEIGHTS_LIMIT_BYTES",
    "SAMPLE_UTTERANCES",
    "VERIFY_TOLERANCE",
    "default_zoo_dir",
    "sha256_file",
    "load_manifest",
    "load_scores",
    "load_shipped_model",
    "shipped_ground_truth",
    "ExportOptions",
    "DIGIT_CHOICES",
    "WEIGHTS_BUDGET_BYTES",
    "export_configuration",
    "export_run",
    "export_ground_truth",
    "verify_artefacts",
    "ArtefactError",
    "UNLISTED_FILES",
    "DNSMOS_FILE",
    "DNSMOS_COLUMNS",
    "score_dnsmos",
    "ship_dnsmos",
    "load_dnsmos",
]

#: Weights are shipped for configurations whose fp32 checkpoint is at most this large (issue: <= 25 MB).
WEIGHTS_LIMIT_BYTES = 25 * 1024 * 1024
#: Total shipped weights of one protocol folder (the repository grows by <= 80 MB in all; samples and logs need the
#: rest): a configuration whose weights would exceed it ships its record, curves, scores and samples only.
WEIGHTS_BUDGET_BYTES = 60 * 1024 * 1024
#: When a configuration's digits are resynthesised and classified (100 clips: the export's largest cost after the
#: held-out clips): "always"; "if-best": only when its held-out D_STFT beats every shipped configuration of its family
#: (the issue asks for the digit accuracy of each family's best model); "never".
DIGIT_CHOICES = ("always", "if-best", "never")
#: Test-split clips used as listenable samples (the same for every model).
SAMPLE_UTTERANCES = (0, 17, 34, 51)
#: Largest accepted difference between a regenerated sample's scores and the manifest's.
VERIFY_TOLERANCE = {"d_stft": 2e-3, "pesq_wb": 0.05}
_SAMPLE_SEED = 1234
_SCORE_METRICS = ("d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos")


class ArtefactError(ValueError):
    """A shipped artefact is missing, altered (sha256 mismatch) or inconsistent (config vs weights)."""


@dataclass(frozen=True)
class ExportOptions:
    """How a finished run is scored when it is exported (the defaults: everything, as for the six small models).

    Attributes:
        n_clips: held-out clips scored — the first ``n_clips`` of the test split, so every configuration scored with the
            same ``n_clips`` sees the same clips (None: all of them). The count is written to ``scores.csv``
            (``n_clips``); the slowest models (RTF 15-40 here) are scored on a prefix to fit a session.
        digits: one of :data:`DIGIT_CHOICES`.
        baseline: also train (or reuse) the quick protocol's 3-step model of the configuration and score it on the
            same clips (the ``baseline_*`` columns).
        weights_budget_bytes: ship weights only while the folder's weights stay within this total (None: no limit).
    """

    n_clips: int | None = None
    digits: str = "always"
    baseline: bool = True
    weights_budget_bytes: int | None = WEIGHTS_BUDGET_BYTES

    def __post_init__(self) -> None:
        if self.n_clips is not None and (isinstance(self.n_clips, bool) or not isinstance(self.n_clips, int)
                                         or self.n_clips < 1):
            raise ValueError(f"n_clips must be a positive int or None (all held-out clips), got {self.n_clips!r}")
        if self.digits not in DIGIT_CHOICES:
            raise ValueError(f"digits must be one of {DIGIT_CHOICES}, got {self.digits!r}")

    def cli_flags(self) -> str:
        """The ``greenaudio train --export`` flags that select these options (empty for the defaults)."""
        flags = []
        if self.n_clips is not None:
            flags.append(f"--export-clips {self.n_clips}")
        if self.digits != "always":
            flags.append(f"--export-digits {self.digits}")
        if not self.baseline:
            flags.append("--no-export-baseline")
        return " ".join(flags)


def default_zoo_dir() -> Path:
    """The package's shipped zoo folder (``greenaudio/resources/zoo``)."""
    return Path(__file__).resolve().parents[1] / "resources" / "zoo"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_bytes(path: Path, data: bytes) -> None:
    from ..training import atomic_write_bytes

    atomic_write_bytes(path, data)


def _flac_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), sample_rate, format="FLAC",
             subtype="PCM_16")
    return buf.getvalue()


def _read_flac(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32")
    return audio, int(sr)


# -- manifest ----------------------------------------------------------------------------------------------------
_MANIFEST_COLUMNS = ["config", "kind", "path", "bytes", "sha256", "provenance", "reproduce"]


#: Files of a protocol folder that its manifest does not list, and why (:func:`verify_artefacts` accepts them; a
#: listed one is checked like any other file).
UNLISTED_FILES = {
    "scores.csv": "rewritten by every export after the manifest rows are written (one row per configuration), so no "
                  "manifest row could keep its hash; verify_artefacts checks its sample scores by regenerating samples",
}


def load_manifest(protocol_dir: str | os.PathLike):
    """The manifest of a shipped protocol folder as a DataFrame of strings (empty with the columns when there is none).

    Raises:
        ArtefactError: a malformed manifest (not UTF-8, empty, not CSV, a missing column; names the file and what is
            wrong: :func:`greenaudio.manifests.read_manifest`).
    """
    from ..manifests import read_manifest

    return read_manifest(protocol_dir, columns=_MANIFEST_COLUMNS)


def load_scores(protocol_dir: str | os.PathLike):
    """The per-configuration scores table (``scores.csv``), empty when nothing is shipped."""
    import pandas as pd

    path = Path(protocol_dir) / "scores.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive advisory lock on ``<folder>/.<name>.lock`` (POSIX; a no-op where fcntl is missing), so that
    two exporters writing one protocol folder cannot lose each other's rows between read and write."""
    try:
        import fcntl
    except ImportError:  # Windows: one exporter at a time
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upsert_rows(path: Path, key: str | Sequence[str], rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str] | None = None):
    """Replace the rows of ``path`` (CSV) whose ``key`` (a column, or several together) equals one of ``rows``' and
    write atomically, under a lock (``columns``: keep and order these, reading empty cells as empty strings, as
    manifests need). Rows are sorted by ``config`` and ``path`` where present, then by the key."""
    with _locked(path):
        _upsert_rows_unlocked(path, key, rows, columns)


def _upsert_rows_unlocked(path: Path, key: str | Sequence[str], rows: Sequence[Mapping[str, Any]],
                          columns: Sequence[str] | None):
    import pandas as pd

    keys = [key] if isinstance(key, str) else list(key)
    new = pd.DataFrame(list(rows))
    if path.is_file():
        old = pd.read_csv(path, keep_default_na=False) if columns else pd.read_csv(path)
        replaced = set(new[keys].astype(str).itertuples(index=False, name=None))
        old = old[[row not in replaced for row in old[keys].astype(str).itertuples(index=False, name=None)]]
        table = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        table = new
    if columns:
        table = table[list(columns)]
    sort = list(dict.fromkeys([c for c in ("config", "path") if c in table.columns] + keys))
    table = table.sort_values(sort).reset_index(drop=True)
    from ..training import atomic_write_text

    atomic_write_text(path, table.to_csv(index=False))


def _reproduce_command(protocol: str, model: str, size: str, options: ExportOptions | None = None) -> str:
    flags = options.cli_flags() if options is not None else ""
    return f"greenaudio train --protocol {protocol} --models {model} --sizes {size} --export" + (
        f" {flags}" if flags else "")


# -- scoring -------------------------------------------------------------------------------------------------------
def _score_clips(reference: np.ndarray, generated: np.ndarray, metrics: Iterable[str]) -> dict[str, float]:
    from .. import evaluation

    fns = evaluation.make_validation_metrics(list(metrics))
    import torch

    ref = torch.as_tensor(reference, dtype=torch.float32)
    gen = torch.as_tensor(np.clip(generated, -1.0, 1.0), dtype=torch.float32)
    return {name: float(fn(ref, gen)) for name, fn in fns.items()}


def _mels_from_audio(audio: np.ndarray, normalizer) -> "Any":
    import torch

    from ..vocoders.mel import MelFrontEnd

    front = MelFrontEnd()
    with torch.no_grad():
        return normalizer.normalize(front(torch.as_tensor(np.asarray(audio, dtype=np.float32)))).float()


def _generate(model, mels, seed: int) -> np.ndarray:
    from .. import evaluation

    return evaluation.resynthesize(model, mels, batch_size=8, seed=seed)


# -- export --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    protocol: str
    out: Path
    test_set: Any
    normalizer: Any
    classifier: Any
    digit_mels: Any
    digit_audio: Any
    digit_labels: Any
    train_prior: Any
    metrics: tuple[str, ...] = _SCORE_METRICS
    train_set: Any = None


def _digit_scores(model, ctx: _Context) -> dict[str, float]:
    from ..metrics import compute_classifier_scores

    if model is None:
        fake = np.asarray(ctx.digit_audio, dtype=np.float32)
    else:
        fake = np.clip(_generate(model, ctx.digit_mels, seed=_SAMPLE_SEED + 1), -1.0, 1.0)
    probs = ctx.classifier.predict(fake)[0]
    s = compute_classifier_scores(fake, ctx.classifier, real_audio=ctx.digit_audio, train_prior=ctx.train_prior)
    return {"digit_accuracy": float((probs.argmax(1) == ctx.digit_labels).mean()), "digit_is": s.inception_score,
            "digit_am": s.am_score, "digit_fd": s.frechet_distance, "n_digits": int(len(ctx.digit_labels))}


def _held_out_scores(model, ctx: _Context, n_clips: int | None) -> dict[str, float]:
    audio = ctx.test_set.audio_array()
    n = len(audio) if n_clips is None else min(n_clips, len(audio))
    import torch

    mels = torch.stack([ctx.test_set[i][1] for i in range(n)])
    gen = audio[:n].copy() if model is None else _generate(model, mels, seed=_SAMPLE_SEED)
    scores = _score_clips(audio[:n], gen[:, : audio.shape[1]], ctx.metrics)
    scores["n_clips"] = n
    scores["n_clipped"] = int((np.abs(gen) > 1.0).any(axis=1).sum())
    return scores


def build_context(protocol: str, out_root: str | os.PathLike | None = None, *, cache_dir=None, n_digits: int = 100,
                  seed: int = 0) -> _Context:
    """Load the corpus, the digit classifier (trained and cached on first use) and the held-out digits."""
    from .. import data, evaluation
    from ..metrics import load_digit_classifier, save_digit_classifier, train_digit_classifier

    cache = Path(cache_dir) if cache_dir else data.default_cache_dir()
    train_set = data.load_espeak_speech("train", cache_dir=cache)
    test_set = data.load_espeak_speech("test", cache_dir=cache)
    digits = data.build_digit_corpus(cache)
    x_train, y_train = digits.split("train")
    x_test, y_test = digits.split("test")
    key = hashlib.sha256(json.dumps({"corpus": digits.path.name, "seed": seed, "budget_s": 60.0, "epochs": 20},
                                    sort_keys=True).encode()).hexdigest()[:12]
    path = cache / "classifiers" / f"digit-cnn-{key}.pt"
    if path.is_file():
        classifier, _ = load_digit_classifier(path)
    else:
        classifier, report = train_digit_classifier(x_train, y_train, x_test, y_test, seed=seed, max_epochs=20,
                                                    time_budget_s=60.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_digit_classifier(classifier, path, report)
    rng = np.random.default_rng(seed)
    index = np.sort(rng.permutation(len(y_test))[: min(n_digits, len(y_test))])
    digit_mels, digit_audio = evaluation.compute_digit_mels(x_test[index], train_set.normalizer, frames=62)
    out = Path(out_root) if out_root else default_zoo_dir()
    return _Context(protocol, out / protocol, test_set, train_set.normalizer, classifier, digit_mels, digit_audio,
                    y_test[index], digits.class_prior("train"), train_set=train_set)


def _sample_paths(ctx: _Context, name: str) -> list[tuple[str, Path]]:
    return [(f"utt{i:02d}", ctx.out / "samples" / f"utt{i:02d}" / f"{name}.flac") for i in SAMPLE_UTTERANCES]


def export_ground_truth(ctx: _Context) -> dict[str, Any]:
    """Write the ground-truth samples and the ground-truth scores row (once per protocol folder)."""
    sr = int(ctx.test_set.sample_rate)
    rows = []
    for (utt, path), i in zip(_sample_paths(ctx, "ground_truth"), SAMPLE_UTTERANCES):
        _atomic_bytes(path, _flac_bytes(ctx.test_set[i][0].numpy(), sr))
        rows.append(_manifest_row(ctx, "ground_truth", "sample", path,
                                  f"test clip {i} of the {ctx.test_set.report.corpus} corpus (16-bit FLAC)",
                                  "greenaudio train --export (any configuration)"))
    upsert_rows(ctx.out / "manifest.csv", "path", rows, _MANIFEST_COLUMNS)
    score = {"config": "ground_truth", "model": "ground_truth", "size": ""}
    score.update(_held_out_scores(None, ctx, None))
    score.update(_digit_scores(None, ctx))
    score["normalizer_min"] = float(ctx.normalizer.minimum)
    score["normalizer_max"] = float(ctx.normalizer.maximum)
    upsert_rows(ctx.out / "scores.csv", "config", [score])
    return score


def config_file_row(folder: Path, config: str, kind: str, path: Path, provenance: str, reproduce: str):
    """A row of a per-configuration manifest (the zoo's, the WaveFlow study's): the configuration, the kind of file,
    its path relative to ``folder``, bytes, sha256, provenance and the command that reproduces it."""
    return {"config": config, "kind": kind, "path": path.relative_to(folder).as_posix(),
            "bytes": path.stat().st_size, "sha256": sha256_file(path), "provenance": provenance,
            "reproduce": reproduce}


def _manifest_row(ctx: _Context, config: str, kind: str, path: Path, provenance: str, reproduce: str):
    return config_file_row(ctx.out, config, kind, path, provenance, reproduce)


def _training_energy(cpu_time_s: float) -> dict[str, Any]:
    from ..measure.power_models import codecarbon_cpu_power_model

    model = codecarbon_cpu_power_model()
    return {"energy_j": model.energy_j(cpu_time_s), "energy_method": "estimated:codecarbon-cpu-process-rule",
            "energy_constants": model.to_dict()}


def export_configuration(run_dir: str | os.PathLike, ctx: _Context, *, baseline=None, commit: str | None = None,
                         options: ExportOptions | None = None) -> dict[str, Any]:
    """Export one finished run: weights (if small enough), training record, curves, samples, scores, manifest rows.

    Args:
        run_dir: a finished run folder of :func:`greenaudio.experiments.zoo.train_configuration` (``zoo_run.json``).
        ctx: from :func:`build_context`.
        baseline: optional model (e.g. the quick protocol's 3-step model) scored beside it (``baseline_*`` columns);
            :func:`export_run` trains and passes it. Without one, the rows' reproduce command says
            ``--no-export-baseline`` (what was done), whatever ``options.baseline`` says.
        commit: the code commit recorded in the training record (default: ``git rev-parse HEAD`` if available).
        options: clips, digits and weights budget (default :class:`ExportOptions`); they are recorded in the
            manifest's reproduce command and in ``scores.csv`` (``n_clips``, ``digit_note``).

    Returns:
        the scores row written to ``scores.csv``.
    """
    import torch

    from ..training import load_checkpoint, load_training_log

    options = ExportOptions() if options is None else options
    if not isinstance(options, ExportOptions):
        raise TypeError(f"options must be an ExportOptions, got {type(options).__name__}")
    if baseline is None and options.baseline:
        # nothing to score beside it: the recorded command must not promise baseline columns
        options = replace(options, baseline=False)
    weights_budget_bytes = options.weights_budget_bytes
    run_dir = Path(run_dir)
    summary = _run_summary(run_dir)
    name, size = summary["model"], summary["size"]
    config = f"{name}-{size}"
    folder = ctx.out / config
    loaded = load_checkpoint(run_dir)
    model = loaded.model.eval()
    rows = []
    reproduce = _reproduce_command(ctx.protocol, name, size, options)
    # weights
    payload = {"format_version": 1, "model_config": model.config.to_dict(), "model": model.state_dict(),
               "step": loaded.step, "budget_elapsed_s": loaded.elapsed_s}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    weights = buffer.getvalue()
    shipped_weights = len(weights) <= WEIGHTS_LIMIT_BYTES
    if shipped_weights and weights_budget_bytes is not None:
        manifest = load_manifest(ctx.out)
        others = manifest[(manifest.kind == "weights") & (manifest.config != config)]
        shipped_weights = int(others.bytes.astype(int).sum()) + len(weights) <= weights_budget_bytes
    if shipped_weights:
        _atomic_bytes(folder / "weights.pt", weights)
        rows.append(_manifest_row(ctx, config, "weights", folder / "weights.pt",
                                  f"trained: {ctx.protocol} protocol, {loaded.step} steps", reproduce))
    elif (folder / "weights.pt").exists():
        (folder / "weights.pt").unlink()
    # training record
    cpu_s = float(summary["budget_elapsed_s"]) if summary["clock"] == "process" else None
    energy = _training_energy(cpu_s) if cpu_s is not None else None
    record = dict(summary)
    record.update({"weights_shipped": shipped_weights, "weights_bytes": len(weights), "commit": commit or _git_commit(),
                   "device": summary["protocol"]["device"]})
    if energy is not None:
        record.update(energy)
    from ..training import atomic_write_text

    atomic_write_text(folder / "training.json", json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    rows.append(_manifest_row(ctx, config, "training-record", folder / "training.json",
                              "written by the trainer (zoo_run.json) + energy estimate", reproduce))
    import pandas as pd

    curves = pd.DataFrame(load_training_log(run_dir))
    atomic_write_text(folder / "curves.csv", curves.to_csv(index=False))
    rows.append(_manifest_row(ctx, config, "curves", folder / "curves.csv", "validation log of the run", reproduce))
    # samples, from the mel of the shipped ground truth
    gt_audio = np.stack([_read_flac(p)[0] for _, p in _sample_paths(ctx, "ground_truth")])
    mels = _mels_from_audio(gt_audio, ctx.normalizer)
    generated = _generate(model, mels, seed=_SAMPLE_SEED)[:, : gt_audio.shape[1]]
    verify = {}
    for (utt, path), ref, gen in zip(_sample_paths(ctx, config), gt_audio, generated):
        _atomic_bytes(path, _flac_bytes(gen, int(ctx.test_set.sample_rate)))
        rows.append(_manifest_row(ctx, config, "sample", path,
                                  f"generated from the mel of samples/{utt}/ground_truth.flac, seed {_SAMPLE_SEED}",
                                  reproduce))
    sample_scores = _score_clips(gt_audio, generated, VERIFY_TOLERANCE)
    verify = {f"sample_{k}": v for k, v in sample_scores.items()}
    upsert_rows(ctx.out / "manifest.csv", "path", rows, _MANIFEST_COLUMNS)
    # scores
    score: dict[str, Any] = {"config": config, "model": name, "size": size, "family": model.family,
                             "steps": loaded.step, "budget_s": summary["protocol"]["budget_s"][size],
                             "clock": summary["clock"], "cpu_time_s": cpu_s, "wall_s": summary.get("wall_s_total"),
                             "threads": summary["threads"], "weights_shipped": shipped_weights}
    if energy is not None:
        score.update({"train_energy_j": energy["energy_j"], "train_energy_method": energy["energy_method"],
                      "train_energy_constants": json.dumps(energy["energy_constants"], sort_keys=True)})
    score.update(_held_out_scores(model, ctx, options.n_clips))
    score.update(_digit_decision(ctx, name, config, score["d_stft"], options.digits, model))
    score.update(verify)
    score["sample_seed"] = _SAMPLE_SEED
    score["procedure"] = json.dumps(model.resolve_procedure(), sort_keys=True)
    if baseline is not None:
        base = _held_out_scores(baseline, ctx, options.n_clips)
        score.update({f"baseline_{k}": v for k, v in base.items() if k in ctx.metrics})
        score["baseline"] = "quick protocol (3 optimisation steps)"
    upsert_rows(ctx.out / "scores.csv", "config", [score])
    return score


def _run_summary(run_dir: Path) -> dict[str, Any]:
    """The finished run's ``zoo_run.json``; an :class:`ArtefactError` naming the folder when the run is not finished."""
    path = run_dir / "zoo_run.json"
    if not path.is_file():
        raise ArtefactError(f"{run_dir} has no zoo_run.json: the run is not finished (train it first)")
    return json.loads(path.read_text())


def _digit_decision(ctx: _Context, model_name: str, config: str, d_stft: float, digits: str, model) -> dict[str, Any]:
    """The digit scores of ``model`` and a ``digit_note`` saying why they were or were not computed."""
    if digits == "never":
        return {"digit_note": "not scored (--export-digits never)"}
    if digits == "if-best":
        scores = load_scores(ctx.out)
        if len(scores) and "d_stft" in scores:
            family = scores[(scores.model == model_name) & (scores.config != config) & scores.d_stft.notna()]
            if len(family):
                best = family.sort_values("d_stft").iloc[0]
                if not d_stft < float(best.d_stft):
                    return {"digit_note": f"not scored: held-out D_STFT {d_stft:.3f} does not beat {best.config}'s "
                                          f"{float(best.d_stft):.3f} (digits are scored for each family's best)"}
        note = "scored: the family's best held-out D_STFT so far"
    else:
        note = "scored"
    return {**_digit_scores(model, ctx), "digit_note": note}


def export_run(run_dir: str | os.PathLike, ctx: _Context, options: ExportOptions | None = None, *,
               runs_root: str | os.PathLike | None = None, commit: str | None = None) -> dict[str, Any]:
    """Export a finished run the way ``greenaudio train --export`` does: with ``options.baseline``, first train (or
    reuse, it resumes) the quick protocol's 3-step model of the same configuration under ``runs_root`` (default: the
    parent of the run's protocol folder) and score it beside the trained one, then :func:`export_configuration`.

    Returns:
        the scores row written to ``scores.csv``.
    """
    import torch

    from ..training import load_checkpoint
    from . import zoo

    options = ExportOptions() if options is None else options
    baseline = None
    if options.baseline:
        summary = _run_summary(Path(run_dir))
        if ctx.train_set is None:
            raise ArtefactError("the export context has no training split (build it with build_context) so the 3-step "
                                "baseline cannot be trained; pass ExportOptions(baseline=False) to leave it out")
        threads = torch.get_num_threads()
        root = Path(runs_root) if runs_root is not None else Path(run_dir).parent.parent  # <root>/<protocol>/<run>
        quick = zoo.train_configuration(summary["model"], summary["size"], "quick", ctx.train_set, ctx.test_set,
                                        root=root, progress=False)
        torch.set_num_threads(threads)
        baseline = load_checkpoint(quick.run_dir).model.eval().prepare_for_inference()
    return export_configuration(run_dir, ctx, baseline=baseline, commit=commit, options=options)


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None


# -- DNSMOS of the shipped zoo -----------------------------------------------------------------------------------
#: The shipped DNSMOS scores of a protocol folder, listed in its manifest (config ``all``, kind ``scores``).
DNSMOS_FILE = "dnsmos.csv"
#: One row per (configuration, clip set): ``clips`` is ``"held-out"`` (the test split's first ``n_clips`` clips, the
#: configuration regenerated from its shipped weights) or ``"samples"`` (the shipped sample FLACs); the four DNSMOS
#: values are means over those clips; ``tool`` and ``created_utc`` say how and when.
DNSMOS_COLUMNS = ("config", "model", "size", "clips", "n_clips", "ovrl_mos", "sig_mos", "bak_mos", "p808_mos", "tool",
                  "created_utc")
_DNSMOS_KEYS = ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")
_DNSMOS_REPRODUCE = "python scripts/score_dnsmos.py --protocol {protocol}"


def _dnsmos_means(clips: Iterable[np.ndarray]) -> dict[str, float]:
    """Mean DNSMOS P.835 (OVRL, SIG, BAK) and P.808 over clips (each clipped to [-1, 1] first, as every score is)."""
    from ..metrics.mos import compute_dnsmos

    values = [compute_dnsmos(np.clip(np.asarray(c, dtype=np.float32), -1.0, 1.0)) for c in clips]
    if not values:
        raise ValueError("no clips to score")
    return {k: float(np.mean([v[k] for v in values])) for k in _DNSMOS_KEYS}


def _dnsmos_tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"speechmos {version('speechmos')} (DNSMOS P.835 and P.808 ONNX models in its wheel)"
    except PackageNotFoundError:  # pragma: no cover - the package is a dependency
        return "speechmos (version not recorded)"


def score_dnsmos(protocol: str = "mini", root: str | os.PathLike | None = None, *, held_out: bool = True,
                 configs: Sequence[str] | None = None, cache_dir: str | os.PathLike | None = None,
                 progress=None) -> "Any":
    """DNSMOS of a shipped protocol folder: P.835's OVRL, SIG and BAK and P.808, mean over clips.

    Every configuration of ``scores.csv`` (and the ground truth) is scored on its shipped samples (the manifest's
    sample FLACs, each checked against its sha256); a configuration without samples gets no ``samples`` row. With
    ``held_out``, the ground truth and every configuration with shipped weights are also scored on the held-out clips
    the export scored (``scores.csv``'s ``n_clips`` first clips of the corpus's test split), regenerated from the
    weights exactly as the export generated them (same mels, seed and batches); the regenerated D_STFT must match
    ``scores.csv``'s within :data:`VERIFY_TOLERANCE`, so the clips are those the shipped scores describe.

    Args:
        configs: restrict to these configurations (default: every row of ``scores.csv``).
        cache_dir: the corpus cache (default :func:`greenaudio.data.default_cache_dir`), for the held-out clips.
        progress: called with ``(config, clips, n_clips)`` before each scoring (e.g. to print).

    Returns:
        a DataFrame with :data:`DNSMOS_COLUMNS`, one row per (configuration, clip set) scored.

    Raises:
        ArtefactError: nothing shipped, an altered sample, a corpus that is not the export's (another normaliser), or
            a regenerated D_STFT that differs from the shipped one.
    """
    import datetime

    import pandas as pd

    from ..validation import check_bool

    held_out = check_bool("held_out", held_out)
    folder = (Path(root) if root else default_zoo_dir()) / protocol
    scores = load_scores(folder)
    if scores.empty:
        raise ArtefactError(f"nothing shipped in {folder} (no scores.csv)")
    scores = scores.set_index("config")
    chosen = list(configs) if configs is not None else list(scores.index)
    unknown = [c for c in chosen if c not in scores.index]
    if unknown:
        raise ValueError(f"configs: {unknown} not in {folder / 'scores.csv'}; shipped: {sorted(scores.index)}")
    manifest = load_manifest(folder)
    tool, now = _dnsmos_tool(), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = []

    def add(config: str, clips: str, audio) -> None:
        if progress is not None:
            progress(config, clips, len(audio))
        model, size = ("ground_truth", "") if config == "ground_truth" else config.rsplit("-", 1)
        rows.append({"config": config, "model": model, "size": size, "clips": clips, "n_clips": int(len(audio)),
                     **_dnsmos_means(audio), "tool": tool, "created_utc": now})

    for config in chosen:
        listed = manifest[(manifest.config == config) & (manifest.kind == "sample")].sort_values("path")
        if len(listed):
            add(config, "samples", [_read_flac(_check_file(folder, row))[0] for _, row in listed.iterrows()])
    if held_out:
        with_weights = set(manifest[manifest.kind == "weights"].config)
        wanted = [c for c in chosen if c == "ground_truth" or c in with_weights]
        if wanted:
            import torch

            from .. import data

            test = data.load_espeak_speech("test", cache_dir=cache_dir)
            truth = scores.loc["ground_truth"] if "ground_truth" in scores.index else None
            if truth is not None and not np.allclose(
                    [test.normalizer.minimum, test.normalizer.maximum],
                    [float(truth.normalizer_min), float(truth.normalizer_max)], rtol=1e-6, atol=1e-12):
                raise ArtefactError(f"the corpus in the cache is not the one {folder} was exported from (its mel "
                                    f"normaliser differs from scores.csv's); delete the corpus cache and rebuild it")
            audio = test.audio_array()
            for config in wanted:
                n = min(int(scores.loc[config, "n_clips"]), len(audio))
                if config == "ground_truth":
                    add(config, "held-out", audio[:n])
                    continue
                mels = torch.stack([test[i][1] for i in range(n)])
                model = load_shipped_model(config, protocol, root)
                generated = _generate(model, mels, seed=_SAMPLE_SEED)[:, : audio.shape[1]]
                got = _score_clips(audio[:n], generated, ("d_stft",))["d_stft"]
                want = float(scores.loc[config, "d_stft"])
                if not abs(got - want) <= VERIFY_TOLERANCE["d_stft"]:
                    raise ArtefactError(f"{folder / config / 'weights.pt'}: the regenerated held-out clips have D_STFT "
                                        f"{got:.4f}, scores.csv says {want:.4f}: not the clips the shipped scores "
                                        "describe")
                add(config, "held-out", generated)
    return pd.DataFrame(rows, columns=list(DNSMOS_COLUMNS))


def ship_dnsmos(table, protocol: str = "mini", root: str | os.PathLike | None = None) -> Path:
    """Write ``table`` (:func:`score_dnsmos`) as the protocol folder's :data:`DNSMOS_FILE`, rows replacing those of the
    same (configuration, clip set) already shipped, and list it in the manifest (sha256, provenance, the reproducing
    command). Returns the file's path.

    Raises:
        ValueError: ``table`` lacks one of :data:`DNSMOS_COLUMNS` or holds a non-finite score.
    """
    missing = [c for c in DNSMOS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks DNSMOS column(s) {missing}; it needs {list(DNSMOS_COLUMNS)}")
    if not np.isfinite(table[list(_DNSMOS_KEYS)].to_numpy(float)).all():
        raise ValueError("table holds a non-finite DNSMOS score")
    folder = (Path(root) if root else default_zoo_dir()) / protocol
    path = folder / DNSMOS_FILE
    upsert_rows(path, ("config", "clips"), table[list(DNSMOS_COLUMNS)].to_dict("records"), DNSMOS_COLUMNS)
    from ..manifests import distinct_values

    tool = distinct_values(load_dnsmos(folder, verify=False).tool)
    row = config_file_row(folder, "all", "scores", path,
                          f"DNSMOS P.835 (OVRL, SIG, BAK) and P.808, mean over clips, {tool}: held-out clips "
                          f"regenerated from the shipped weights (seed {_SAMPLE_SEED}) where weights are shipped, "
                          "the shipped samples for every configuration",
                          _DNSMOS_REPRODUCE.format(protocol=protocol))
    upsert_rows(folder / "manifest.csv", "path", [row], _MANIFEST_COLUMNS)
    return path


def load_dnsmos(protocol_dir: str | os.PathLike, *, verify: bool = True):
    """The shipped DNSMOS scores of a protocol folder (:data:`DNSMOS_COLUMNS`); empty (with the columns) when none are
    shipped. With ``verify`` a listed file is checked against its manifest row (sha256, size).

    Raises:
        ArtefactError: the file differs from its manifest row, or lacks a column.
    """
    import pandas as pd

    folder = Path(protocol_dir)
    path = folder / DNSMOS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=list(DNSMOS_COLUMNS))
    if verify:
        manifest = load_manifest(folder)
        listed = manifest[manifest.path == DNSMOS_FILE]
        if listed.empty:
            raise ArtefactError(f"{folder / 'manifest.csv'} does not list {DNSMOS_FILE} (ship it with "
                                f"`{_DNSMOS_REPRODUCE.format(protocol=folder.name)}`)")
        _check_file(folder, listed.iloc[0])
    text = ("config", "model", "size", "clips", "tool", "created_utc")
    table = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in _DNSMOS_KEYS},
                        dtype={c: str for c in text})
    missing = [c for c in DNSMOS_COLUMNS if c not in table.columns]
    if missing:
        raise ArtefactError(f"{path} lacks column(s) {missing}; it needs {list(DNSMOS_COLUMNS)}")
    return table


# -- loading and verification --------------------------------------------------------------------------------------
def _check_file(protocol_dir: Path, row) -> Path:
    """One manifest row's file, its path checked to stay inside ``protocol_dir`` and its sha256 and size to match."""
    from ..manifests import check_listed_row

    return check_listed_row(protocol_dir, row)


def load_shipped_model(config: str, protocol: str = "mini", root: str | os.PathLike | None = None):
    """A shipped trained model (``config`` like ``"melgan-small"``), checked against the manifest, in eval mode.

    Raises:
        ArtefactError: no shipped weights for ``config`` (lists the configurations that have some), a sha256
            mismatch, or weights that do not fit the stored config (each message names the file).
    """
    import torch

    from ..vocoders import registry

    protocol_dir = (Path(root) if root else default_zoo_dir()) / protocol
    manifest = load_manifest(protocol_dir)
    rows = manifest[(manifest.config == config) & (manifest.kind == "weights")]
    if rows.empty:
        have = sorted(manifest[manifest.kind == "weights"].config.unique())
        raise ArtefactError(f"no shipped weights for {config!r} in {protocol_dir}; available: {have}")
    path = _check_file(protocol_dir, rows.iloc[0])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = registry.build(state["model_config"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ArtefactError(f"{path}: the weights do not fit the stored config "
                            f"({state['model_config'].get('model')}/{state['model_config'].get('size')}): {err}") from err
    return model.eval()


def shipped_training_workload(spec: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """A shipped mini training run as a workload for the three-tool energy table
    (:func:`greenaudio.measure.cost_chapter.energy_tools_table`).

    Args:
        spec: ``"<protocol>/<configuration>"``, e.g. ``"mini/hifigan-small"`` (a configuration with a shipped
            ``training.json``).
        root: the zoo folder (default: the package's shipped zoo).

    Returns:
        ``{"name", "wall_s", "cpu_time_s", "cores", "memory_gb"}`` read from the record: wall time, process CPU time
        (the budget clock of the mini protocol) and threads as recorded. The record holds no memory measurement, so
        ``memory_gb`` is 0 and the name says so (Green Algorithms' memory term is then left out, not guessed).
    """
    if not isinstance(spec, str) or spec.count("/") != 1:
        raise ValueError(f"training run must be '<protocol>/<configuration>' such as 'mini/hifigan-small', got {spec!r}")
    protocol, config = spec.split("/")
    folder = Path(root) if root else default_zoo_dir()
    path = folder / protocol / config / "training.json"
    if not path.is_file():
        have = sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in folder.glob("*/*/training.json"))
        raise ArtefactError(f"no shipped training record {path}; shipped: {have}")
    record = json.loads(path.read_text())
    if record.get("clock") != "process":
        raise ArtefactError(f"{path}: the budget clock is {record.get('clock')!r}, so the record holds no process CPU "
                            "time; the three-tool table needs it")
    return {"name": f"mini training {config} ({record['step']} steps; {record['threads']} thread(s); memory not "
                    "recorded: memory term 0)",
            "wall_s": float(record["wall_s_total"]), "cpu_time_s": float(record["budget_elapsed_s"]),
            "cores": int(record["threads"]), "memory_gb": 0.0}


def shipped_ground_truth(protocol_dir: str | os.PathLike, scores=None):
    """The shipped ground-truth samples ``(U, T)`` (utterance order) and their normalised mels, computed with the
    normaliser recorded in ``scores.csv`` — the input every shipped sample was generated from."""
    from ..vocoders.mel import MelNormalizer

    protocol_dir = Path(protocol_dir)
    scores = load_scores(protocol_dir).set_index("config") if scores is None else scores
    gt = scores.loc["ground_truth"]
    normalizer = MelNormalizer(float(gt.normalizer_min), float(gt.normalizer_max))
    audio = np.stack([_read_flac(p)[0] for p in sorted(protocol_dir.glob("samples/*/ground_truth.flac"))])
    return audio, _mels_from_audio(audio, normalizer)


def verify_artefacts(protocol: str = "mini", root: str | os.PathLike | None = None, *, configs: Sequence[str] = (),
                     n_weights: int = 2) -> "Any":
    """Re-verify shipped artefacts: every file's sha256 (and no file the manifest does not list), then regenerate the
    samples of ``n_weights`` configurations from their weights and the shipped ground truth and compare D_STFT and
    PESQ-WB with ``scores.csv``.

    Args:
        configs: which configurations to regenerate (default: the first ``n_weights`` with shipped weights).

    Returns:
        a DataFrame, one row per regenerated configuration: the manifest's and the recomputed scores, differences.

    Raises:
        ArtefactError: no or a malformed ``manifest.csv``, a row whose path leaves the folder, a missing or altered
            file, a file the manifest does not list (other than :data:`UNLISTED_FILES`), or a regenerated score
            outside :data:`VERIFY_TOLERANCE` (:func:`greenaudio.manifests.verify_folder`).
    """
    import pandas as pd

    from ..manifests import verify_folder

    protocol_dir = (Path(root) if root else default_zoo_dir()) / protocol
    manifest = verify_folder(protocol_dir, columns=_MANIFEST_COLUMNS, allow=UNLISTED_FILES)
    if manifest.empty:
        raise ArtefactError(f"nothing shipped in {protocol_dir} ({protocol_dir / 'manifest.csv'} lists no file)")
    scores = load_scores(protocol_dir).set_index("config")
    gt_audio, mels = shipped_ground_truth(protocol_dir, scores)
    with_weights = sorted(c for c in manifest[manifest.kind == "weights"].config.unique() if c in scores.index)
    chosen = list(configs) or with_weights[:n_weights]
    out = []
    for config in chosen:
        model = load_shipped_model(config, protocol, root)
        seed = int(scores.loc[config, "sample_seed"])
        gen = _generate(model, mels, seed=seed)[:, : gt_audio.shape[1]]
        got = _score_clips(gt_audio, gen, VERIFY_TOLERANCE)
        row = {"config": config}
        for metric, tol in VERIFY_TOLERANCE.items():
            want = float(scores.loc[config, f"sample_{metric}"])
            row.update({f"{metric} (manifest)": want, f"{metric} (recomputed)": got[metric],
                        f"{metric} |diff|": abs(got[metric] - want), f"{metric} tolerance": tol})
            if not (math.isfinite(got[metric]) and abs(got[metric] - want) <= tol):
                raise ArtefactError(f"{protocol_dir / config / 'weights.pt'}: regenerated {metric} = {got[metric]:.4f}"
                                    f" differs from the manifest's {want:.4f} by more than {tol}")
        out.append(row)
    return pd.DataFrame(out)
