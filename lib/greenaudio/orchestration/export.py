"""Export of the trained zoo's artefacts (weights, samples, curves, scores, with a sha256 manifest), their
re-verification, and the DNSMOS scores of a shipped folder. The readers are :mod:`greenaudio.shipped`.

Used by: ``greenaudio train --export`` and ``--verify``, notebooks/05_2_quality (exports a fresh zoo, re-verifies the
shipped one), scripts/score_dnsmos.py.

Exporting never trains: the 3-step baseline scored beside a configuration (the ``baseline_*`` columns) is passed in
by the caller (:func:`export_run`), which trains it first where needed.

Every sample is generated from the mel of the *shipped* ground-truth FLAC (decoded, then the thesis's front-end and
the corpus's normaliser, both recorded), with a seed recorded, so :func:`verify_artefacts` can regenerate it from the
shipped files alone and compare its D_STFT and PESQ with the manifest's.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..evaluation import generate_and_score
from ..files import (ArtefactError, atomic_write_bytes, atomic_write_text, file_row, locked_file, upsert_rows,
                     verify_folder, write_safetensors)
from ..shipped import (DNSMOS_COLUMNS, DNSMOS_FILE, DNSMOS_KEYS, DNSMOS_REPRODUCE, MODEL_CONFIG_FILE, SAMPLE_SEED,
                       SAMPLE_UTTERANCES, UNLISTED_FILES, VERIFY_TOLERANCE, WEIGHTS_FILE, WEIGHTS_INDEX_COLUMNS,
                       WEIGHTS_INDEX_FILE, ZOO_MANIFEST_COLUMNS, check_listed_file, default_zoo_dir, load_dnsmos,
                       load_manifest, load_scores, load_shipped_model, mels_from_audio, protocol_folder, read_flac,
                       shipped_ground_truth)

__all__ = ["WEIGHTS_LIMIT_BYTES", "WEIGHTS_BUDGET_BYTES", "DIGIT_CHOICES", "ExportOptions", "ExportContext",
           "build_context", "export_ground_truth", "export_configuration", "export_run", "verify_artefacts",
           "score_dnsmos", "ship_dnsmos"]

#: Weights are shipped for configurations whose fp32 weights are at most this large (issue #25: the repository's
#: tracked files stay <= 40 MiB, so WaveFlow small (24 MB) and WaveGrad small (17 MB) ship no weights).
WEIGHTS_LIMIT_BYTES = 8 * 1024 * 1024
#: Total shipped weights of one protocol folder: a configuration whose weights would exceed it ships its record,
#: curves, scores and samples only.
WEIGHTS_BUDGET_BYTES = 24 * 1024 * 1024
#: Held-out D_STFT below which a model's output is speech to the ear (the GANs of the mini zoo: 0.24-0.31); above
#: it (the mini zoo's flows and diffusion models: 0.98-4.7) it is noise. Quoted in the weights index's reasons.
AUDIBLE_D_STFT = 0.5
#: When a configuration's digits are resynthesised and classified (100 clips: the export's largest cost after the
#: held-out clips): "always"; "if-best": only when its held-out D_STFT beats every shipped configuration of its family
#: (the issue asks for the digit accuracy of each family's best model); "never".
DIGIT_CHOICES = ("always", "if-best", "never")
_SCORE_METRICS = ("d_stft", "pesq_wb", "pesq_nb", "stoi", "distillmos")


@dataclass(frozen=True)
class ExportOptions:
    """How a finished run is scored when it is exported (the defaults: everything, as for the six small models).

    Attributes:
        n_clips: held-out clips scored — the first ``n_clips`` of the test split, so every configuration scored with the
            same ``n_clips`` sees the same clips (None: all of them). The count is written to ``scores.csv``
            (``n_clips``); the slowest models (RTF 15-40 here) are scored on a prefix to fit a session.
        digits: one of :data:`DIGIT_CHOICES`.
        baseline: also score the quick protocol's 3-step model of the configuration on the same clips (the
            ``baseline_*`` columns); :func:`export_run` needs it passed in.
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


def _flac_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), sample_rate, format="FLAC",
             subtype="PCM_16")
    return buf.getvalue()


def _reproduce_command(protocol: str, model: str, size: str, options: ExportOptions | None = None) -> str:
    flags = options.cli_flags() if options is not None else ""
    return f"greenaudio train --protocol {protocol} --models {model} --sizes {size} --export" + (
        f" {flags}" if flags else "")


# -- context and scoring -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportContext:
    """What every export of one protocol folder shares: the corpus splits, the digit classifier and digits.

    ``train_set`` is not read by the export; it is there for the caller that trains the 3-step baseline."""

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


def _digit_scores(model, ctx: ExportContext) -> dict[str, float]:
    from ..metrics import compute_classifier_scores

    if model is None:
        fake = np.asarray(ctx.digit_audio, dtype=np.float32)
    else:
        fake = generate_and_score(model, ctx.digit_mels, ctx.digit_audio, metrics=(), seed=SAMPLE_SEED + 1).audio
        fake = np.clip(fake, -1.0, 1.0)
    probs = ctx.classifier.predict(fake)[0]
    s = compute_classifier_scores(fake, ctx.classifier, real_audio=ctx.digit_audio, train_prior=ctx.train_prior)
    return {"digit_accuracy": float((probs.argmax(1) == ctx.digit_labels).mean()), "digit_is": s.inception_score,
            "digit_am": s.am_score, "digit_fd": s.frechet_distance, "n_digits": int(len(ctx.digit_labels))}


def _held_out_scores(model, ctx: ExportContext, n_clips: int | None) -> dict[str, float]:
    import torch

    audio = ctx.test_set.audio_array()
    n = len(audio) if n_clips is None else min(n_clips, len(audio))
    mels = torch.stack([ctx.test_set[i][1] for i in range(n)]) if model is not None else None
    scored = generate_and_score(model, mels, audio[:n], metrics=ctx.metrics, seed=SAMPLE_SEED)
    return {**scored.means, "n_clips": n, "n_clipped": scored.n_clipped}


def build_context(protocol: str, out_root: str | os.PathLike | None = None, *, cache_dir=None, n_digits: int = 100,
                  seed: int = 0) -> ExportContext:
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
    return ExportContext(protocol, protocol_folder(protocol, out_root), test_set, train_set.normalizer, classifier,
                         digit_mels, digit_audio, y_test[index], digits.class_prior("train"), train_set=train_set)


# -- export ------------------------------------------------------------------------------------------------------
def _sample_paths(ctx: ExportContext, name: str) -> list[tuple[str, Path]]:
    return [(f"utt{i:02d}", ctx.out / "samples" / f"utt{i:02d}" / f"{name}.flac") for i in SAMPLE_UTTERANCES]


def _row(ctx: ExportContext, config: str, kind: str, path: Path, provenance: str, reproduce: str) -> dict[str, Any]:
    return file_row(path, provenance, reproduce, folder=ctx.out, config=config, kind=kind)


def export_ground_truth(ctx: ExportContext) -> dict[str, Any]:
    """Write the ground-truth samples and the ground-truth scores row (once per protocol folder)."""
    sr = int(ctx.test_set.sample_rate)
    rows = []
    for (utt, path), i in zip(_sample_paths(ctx, "ground_truth"), SAMPLE_UTTERANCES):
        atomic_write_bytes(path, _flac_bytes(ctx.test_set[i][0].numpy(), sr))
        rows.append(_row(ctx, "ground_truth", "sample", path,
                         f"test clip {i} of the {ctx.test_set.report.corpus} corpus (16-bit FLAC)",
                         "greenaudio train --export (any configuration)"))
    upsert_rows(ctx.out / "manifest.csv", "path", rows, ZOO_MANIFEST_COLUMNS)
    score = {"config": "ground_truth", "model": "ground_truth", "size": ""}
    score.update(_held_out_scores(None, ctx, None))
    score.update(_digit_scores(None, ctx))
    score["normalizer_min"] = float(ctx.normalizer.minimum)
    score["normalizer_max"] = float(ctx.normalizer.maximum)
    upsert_rows(ctx.out / "scores.csv", "config", [score])
    return score


def _run_summary(run_dir: Path) -> dict[str, Any]:
    """The finished run's ``zoo_run.json``; an :class:`ArtefactError` naming the folder when the run is not finished."""
    path = run_dir / "zoo_run.json"
    if not path.is_file():
        raise ArtefactError(f"{run_dir} has no zoo_run.json: the run is not finished (train it first)")
    return json.loads(path.read_text())


def _weights_decision(ctx: ExportContext, config: str, nbytes: int, options: ExportOptions) -> str | None:
    """Why the weights are not shipped (None: they are)."""
    if nbytes > WEIGHTS_LIMIT_BYTES:
        return (f"its {nbytes / 1e6:.1f} MB of fp32 weights exceed the {WEIGHTS_LIMIT_BYTES // 2**20} MiB limit per "
                "configuration (the repository's tracked files stay within 40 MiB)")
    if options.weights_budget_bytes is not None:
        manifest = load_manifest(ctx.out)
        others = manifest[(manifest.kind == "weights") & (manifest.config != config)]
        if int(others.bytes.astype(int).sum()) + nbytes > options.weights_budget_bytes:
            return (f"its {nbytes / 1e6:.1f} MB of weights would take the folder's shipped weights past their "
                    f"{options.weights_budget_bytes // 2**20} MiB budget")
    return None


def _unship(ctx: ExportContext, paths: list[str]) -> None:
    """Remove files of an earlier export and their manifest rows (under the manifest's lock)."""
    manifest_path = ctx.out / "manifest.csv"
    with locked_file(manifest_path):
        manifest = load_manifest(ctx.out)
        if manifest.path.isin(paths).any():
            kept = manifest[~manifest.path.isin(paths)]
            atomic_write_text(manifest_path, kept[ZOO_MANIFEST_COLUMNS].to_csv(index=False))
        for path in paths:
            (ctx.out / path).unlink(missing_ok=True)


def _export_weights(ctx: ExportContext, config: str, loaded, reproduce: str,
                    options: ExportOptions) -> tuple[list[dict], int, str | None]:
    """Write (or remove) ``weights.safetensors`` and ``config.json``; returns the manifest rows, the weights' bytes
    and why they are not shipped (None: shipped)."""
    model, folder = loaded.model, ctx.out / config
    tensors = {name: t.detach().cpu().contiguous().numpy() for name, t in model.state_dict().items()}
    nbytes = int(sum(a.nbytes for a in tensors.values()))
    why_not = _weights_decision(ctx, config, nbytes, options)
    if why_not is not None:
        _unship(ctx, [f"{config}/{name}" for name in (WEIGHTS_FILE, MODEL_CONFIG_FILE)])
        return [], nbytes, why_not
    metadata = {"format_version": "2", "model": model.config.to_dict()["model"], "step": str(loaded.step),
                "budget_elapsed_s": repr(float(loaded.elapsed_s))}
    write_safetensors(folder / WEIGHTS_FILE, tensors, metadata)
    atomic_write_text(folder / MODEL_CONFIG_FILE, json.dumps(model.config.to_dict(), indent=1, sort_keys=True) + "\n")
    provenance = f"trained: {ctx.protocol} protocol, {loaded.step} steps"
    return [_row(ctx, config, "weights", folder / WEIGHTS_FILE, provenance + " (safetensors)", reproduce),
            _row(ctx, config, "model-config", folder / MODEL_CONFIG_FILE, provenance + " (the model config the "
                 "weights fit)", reproduce)], nbytes, None


def _export_record(ctx: ExportContext, config: str, run_dir: Path, summary: dict, weights_bytes: int, shipped: bool,
                   commit: str | None, reproduce: str) -> tuple[list[dict], dict | None]:
    """Write ``training.json`` (the trainer's record, the weights' fate, the energy estimate) and ``curves.csv``."""
    import pandas as pd

    from ..host import read_git_commit
    from ..training import load_training_log
    from ..training.energy import codecarbon_cpu_training_energy

    folder = ctx.out / config
    cpu_s = float(summary["budget_elapsed_s"]) if summary["clock"] == "process" else None
    energy = codecarbon_cpu_training_energy(cpu_s) if cpu_s is not None else None
    record = dict(summary)
    record.update({"weights_shipped": shipped, "weights_bytes": weights_bytes,
                   "commit": commit or read_git_commit(dirty=False), "device": summary["protocol"]["device"]})
    record.update(energy or {})
    atomic_write_text(folder / "training.json", json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    atomic_write_text(folder / "curves.csv", pd.DataFrame(load_training_log(run_dir)).to_csv(index=False))
    return [_row(ctx, config, "training-record", folder / "training.json",
                 "written by the trainer (zoo_run.json) + energy estimate", reproduce),
            _row(ctx, config, "curves", folder / "curves.csv", "validation log of the run", reproduce)], energy


def _export_samples(ctx: ExportContext, config: str, model, reproduce: str) -> tuple[list[dict], dict[str, float]]:
    """Generate the samples from the mels of the shipped ground truth, write them; returns rows and their scores."""
    gt_audio = np.stack([read_flac(p)[0] for _, p in _sample_paths(ctx, "ground_truth")])
    mels = mels_from_audio(gt_audio, ctx.normalizer)
    scored = generate_and_score(model, mels, gt_audio, metrics=tuple(VERIFY_TOLERANCE), seed=SAMPLE_SEED)
    rows = []
    for (utt, path), gen in zip(_sample_paths(ctx, config), scored.audio[:, : gt_audio.shape[1]]):
        atomic_write_bytes(path, _flac_bytes(gen, int(ctx.test_set.sample_rate)))
        rows.append(_row(ctx, config, "sample", path,
                         f"generated from the mel of samples/{utt}/ground_truth.flac, seed {SAMPLE_SEED}", reproduce))
    return rows, {f"sample_{k}": v for k, v in scored.means.items()}


def _weights_reason(why_not: str | None, nbytes: int, d_stft: float) -> str:
    ear = (f"audible (held-out D_STFT {d_stft:.2f})" if d_stft < AUDIBLE_D_STFT
           else f"noise to the ear (held-out D_STFT {d_stft:.2f})")
    if why_not is None:
        return (f"shipped ({nbytes / 1e6:.1f} MB): {ear}; Chapter 6 quantizes the trained weights and "
                "verify_artefacts regenerates the samples from them")
    return f"not shipped: {why_not}; {ear}; training record, curves, samples and scores shipped"


def _write_weights_index(ctx: ExportContext, rows: list[dict]) -> None:
    """Upsert the weights index's rows and its manifest row (config ``all``, kind ``weights-index``)."""
    path = ctx.out / WEIGHTS_INDEX_FILE
    upsert_rows(path, "config", rows, WEIGHTS_INDEX_COLUMNS)
    upsert_rows(ctx.out / "manifest.csv", "path", [_row(
        ctx, "all", "weights-index", path, f"why each configuration's weights are or are not shipped (limit "
        f"{WEIGHTS_LIMIT_BYTES // 2**20} MiB per configuration; audible below held-out D_STFT {AUDIBLE_D_STFT})",
        f"greenaudio train --protocol {ctx.protocol} --export (each exported configuration writes its row)")],
        ZOO_MANIFEST_COLUMNS)


def export_configuration(run_dir: str | os.PathLike, ctx: ExportContext, *, baseline=None, commit: str | None = None,
                         options: ExportOptions | None = None) -> dict[str, Any]:
    """Export one finished run: weights (within the limits), training record, curves, samples, scores, manifest rows.

    Args:
        run_dir: a finished run folder of :func:`greenaudio.chapters.zoo.train_configuration` (``zoo_run.json``).
        ctx: from :func:`build_context`.
        baseline: optional model (e.g. the quick protocol's 3-step model) scored beside it (``baseline_*`` columns).
            Without one, the rows' reproduce command says ``--no-export-baseline`` (what was done), whatever
            ``options.baseline`` says.
        commit: the code commit recorded in the training record (default: ``git rev-parse HEAD`` if available).
        options: clips, digits and weights budget (default :class:`ExportOptions`); they are recorded in the
            manifest's reproduce command and in ``scores.csv`` (``n_clips``, ``digit_note``).

    Returns:
        the scores row written to ``scores.csv``.
    """
    from ..training import load_checkpoint

    options = ExportOptions() if options is None else options
    if not isinstance(options, ExportOptions):
        raise TypeError(f"options must be an ExportOptions, got {type(options).__name__}")
    if baseline is None and options.baseline:  # nothing to score beside it: the command must not promise it
        options = replace(options, baseline=False)
    run_dir = Path(run_dir)
    summary = _run_summary(run_dir)
    name, size = summary["model"], summary["size"]
    config = f"{name}-{size}"
    loaded = load_checkpoint(run_dir)
    model = loaded.model.eval()
    reproduce = _reproduce_command(ctx.protocol, name, size, options)
    weight_rows, nbytes, why_not = _export_weights(ctx, config, loaded, reproduce, options)
    record_rows, energy = _export_record(ctx, config, run_dir, summary, nbytes, why_not is None, commit, reproduce)
    sample_rows, sample_scores = _export_samples(ctx, config, model, reproduce)
    upsert_rows(ctx.out / "manifest.csv", "path", weight_rows + record_rows + sample_rows, ZOO_MANIFEST_COLUMNS)
    cpu_s = float(summary["budget_elapsed_s"]) if summary["clock"] == "process" else None
    score: dict[str, Any] = {"config": config, "model": name, "size": size, "family": model.family,
                             "steps": loaded.step, "budget_s": summary["protocol"]["budget_s"][size],
                             "clock": summary["clock"], "cpu_time_s": cpu_s, "wall_s": summary.get("wall_s_total"),
                             "threads": summary["threads"], "weights_shipped": why_not is None}
    if energy is not None:
        score.update({"train_energy_j": energy["energy_j"], "train_energy_method": energy["energy_method"],
                      "train_energy_constants": json.dumps(energy["energy_constants"], sort_keys=True)})
    score.update(_held_out_scores(model, ctx, options.n_clips))
    score.update(_digit_decision(ctx, name, config, score["d_stft"], options.digits, model))
    score.update(sample_scores, sample_seed=SAMPLE_SEED, procedure=json.dumps(model.resolve_procedure(),
                                                                              sort_keys=True))
    if baseline is not None:
        base = _held_out_scores(baseline, ctx, options.n_clips)
        score.update({f"baseline_{k}": v for k, v in base.items() if k in ctx.metrics})
        score["baseline"] = "quick protocol (3 optimisation steps)"
    upsert_rows(ctx.out / "scores.csv", "config", [score])
    _write_weights_index(ctx, [{"config": config, "shipped": why_not is None, "bytes": nbytes,
                                "reason": _weights_reason(why_not, nbytes, float(score["d_stft"]))}])
    return score


def _digit_decision(ctx: ExportContext, model_name: str, config: str, d_stft: float, digits: str,
                    model) -> dict[str, Any]:
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


def _baseline_model(baseline, summary: dict[str, Any]):
    """The 3-step baseline to score: a model as given, or the model of a finished run folder of the same
    configuration."""
    config = f"{summary['model']}-{summary['size']}"
    if baseline is None:
        raise ArtefactError(
            f"ExportOptions(baseline=True) needs the quick protocol's 3-step {config} model, and exporting never "
            f"trains: pass baseline= that model or its finished run folder (greenaudio.chapters.zoo."
            f"train_configuration({summary['model']!r}, {summary['size']!r}, 'quick', train_set, test_set).run_dir; "
            "`greenaudio train --export` trains it first), or pass ExportOptions(baseline=False) to leave it out")
    if not isinstance(baseline, (str, os.PathLike)):
        return baseline
    from ..training import load_checkpoint

    quick = _run_summary(Path(baseline))
    if (quick["model"], quick["size"]) != (summary["model"], summary["size"]):
        raise ArtefactError(f"the baseline run {baseline} is {quick['model']}-{quick['size']}, not {config}")
    return load_checkpoint(baseline).model.eval().prepare_for_inference()


def export_run(run_dir: str | os.PathLike, ctx: ExportContext, options: ExportOptions | None = None, *,
               baseline=None, commit: str | None = None) -> dict[str, Any]:
    """Export a finished run the way ``greenaudio train --export`` does: :func:`export_configuration`, with
    ``options.baseline`` scoring the quick protocol's 3-step model of the same configuration beside it.

    Args:
        baseline: that 3-step model, or its finished run folder (required with ``options.baseline``; ignored
            without). Exporting never trains: the caller trains it first.

    Returns:
        the scores row written to ``scores.csv``.

    Raises:
        ArtefactError: the run (or the baseline run) is not finished, the baseline is missing (the message says what
            to pass) or is another configuration's.
    """
    options = ExportOptions() if options is None else options
    model = None
    if options.baseline:
        model = _baseline_model(baseline, _run_summary(Path(run_dir)))
    return export_configuration(run_dir, ctx, baseline=model, commit=commit, options=options)


# -- DNSMOS of the shipped zoo -----------------------------------------------------------------------------------
def _dnsmos_means(clips) -> dict[str, float]:
    """Mean DNSMOS P.835 (OVRL, SIG, BAK) and P.808 over clips (each clipped to [-1, 1] first, as every score is)."""
    from ..metrics.mos import compute_dnsmos

    values = [compute_dnsmos(np.clip(np.asarray(c, dtype=np.float32), -1.0, 1.0)) for c in clips]
    if not values:
        raise ValueError("no clips to score")
    return {k: float(np.mean([v[k] for v in values])) for k in DNSMOS_KEYS}


def _dnsmos_tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"speechmos {version('speechmos')} (DNSMOS P.835 and P.808 ONNX models in its wheel)"
    except PackageNotFoundError:  # pragma: no cover - the package is a dependency
        return "speechmos (version not recorded)"


def _held_out_clips(folder: Path, scores, wanted: Sequence[str], protocol: str, root, cache_dir):
    """``(config, clips)`` of the held-out clips the export scored: the ground truth's, and each configuration's
    regenerated from its shipped weights, its D_STFT checked against ``scores.csv``."""
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
            yield config, audio[:n]
            continue
        mels = torch.stack([test[i][1] for i in range(n)])
        scored = generate_and_score(load_shipped_model(config, protocol, root), mels, audio[:n], seed=SAMPLE_SEED)
        got, want = scored.means["d_stft"], float(scores.loc[config, "d_stft"])
        if not abs(got - want) <= VERIFY_TOLERANCE["d_stft"]:
            raise ArtefactError(f"{folder / config / WEIGHTS_FILE}: the regenerated held-out clips have D_STFT "
                                f"{got:.4f}, scores.csv says {want:.4f}: not the clips the shipped scores describe")
        yield config, scored.audio[:, : audio.shape[1]]


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
    folder = protocol_folder(protocol, root)
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
    sets = []
    for config in chosen:
        listed = manifest[(manifest.config == config) & (manifest.kind == "sample")].sort_values("path")
        if len(listed):
            sets.append((config, "samples", lambda listed=listed: [
                read_flac(check_listed_file(folder, row))[0] for _, row in listed.iterrows()]))
    rows = [_dnsmos_row(config, clips, load(), tool, now, progress) for config, clips, load in sets]
    if held_out:
        with_weights = set(manifest[manifest.kind == "weights"].config)
        wanted = [c for c in chosen if c == "ground_truth" or c in with_weights]
        if wanted:
            rows += [_dnsmos_row(config, "held-out", audio, tool, now, progress)
                     for config, audio in _held_out_clips(folder, scores, wanted, protocol, root, cache_dir)]
    return pd.DataFrame(rows, columns=list(DNSMOS_COLUMNS))


def _dnsmos_row(config: str, clips: str, audio, tool: str, now: str, progress) -> dict[str, Any]:
    if progress is not None:
        progress(config, clips, len(audio))
    model, size = ("ground_truth", "") if config == "ground_truth" else config.rsplit("-", 1)
    return {"config": config, "model": model, "size": size, "clips": clips, "n_clips": int(len(audio)),
            **_dnsmos_means(audio), "tool": tool, "created_utc": now}


def ship_dnsmos(table, protocol: str = "mini", root: str | os.PathLike | None = None) -> Path:
    """Write ``table`` (:func:`score_dnsmos`) as the protocol folder's :data:`DNSMOS_FILE`, rows replacing those of the
    same (configuration, clip set) already shipped, and list it in the manifest (sha256, provenance, the reproducing
    command). Returns the file's path.

    Raises:
        ValueError: ``table`` lacks one of :data:`DNSMOS_COLUMNS` or holds a non-finite score.
    """
    from ..files import distinct_values

    missing = [c for c in DNSMOS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks DNSMOS column(s) {missing}; it needs {list(DNSMOS_COLUMNS)}")
    if not np.isfinite(table[list(DNSMOS_KEYS)].to_numpy(float)).all():
        raise ValueError("table holds a non-finite DNSMOS score")
    folder = protocol_folder(protocol, root)
    path = folder / DNSMOS_FILE
    upsert_rows(path, ("config", "clips"), table[list(DNSMOS_COLUMNS)].to_dict("records"), DNSMOS_COLUMNS)
    tool = distinct_values(load_dnsmos(folder, verify=False).tool)
    row = file_row(path, f"DNSMOS P.835 (OVRL, SIG, BAK) and P.808, mean over clips, {tool}: held-out clips "
                         f"regenerated from the shipped weights (seed {SAMPLE_SEED}) where weights are shipped, "
                         "the shipped samples for every configuration",
                   DNSMOS_REPRODUCE.format(protocol=protocol), folder=folder, config="all", kind="scores")
    upsert_rows(folder / "manifest.csv", "path", [row], ZOO_MANIFEST_COLUMNS)
    return path


# -- verification --------------------------------------------------------------------------------------------------
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
            file, a file the manifest does not list (other than :data:`~greenaudio.shipped.UNLISTED_FILES`), or a
            regenerated score outside :data:`~greenaudio.shipped.VERIFY_TOLERANCE`
            (:func:`greenaudio.files.verify_folder`).
    """
    import pandas as pd

    protocol_dir = protocol_folder(protocol, root)
    manifest = verify_folder(protocol_dir, columns=ZOO_MANIFEST_COLUMNS, allow=UNLISTED_FILES)
    if manifest.empty:
        raise ArtefactError(f"nothing shipped in {protocol_dir} ({protocol_dir / 'manifest.csv'} lists no file)")
    scores = load_scores(protocol_dir).set_index("config")
    gt_audio, mels = shipped_ground_truth(protocol_dir, scores)
    with_weights = sorted(c for c in manifest[manifest.kind == "weights"].config.unique() if c in scores.index)
    out = []
    for config in list(configs) or with_weights[:n_weights]:
        model = load_shipped_model(config, protocol, root)
        seed = int(scores.loc[config, "sample_seed"])
        got = generate_and_score(model, mels, gt_audio, metrics=tuple(VERIFY_TOLERANCE), seed=seed).means
        row = {"config": config}
        for metric, tol in VERIFY_TOLERANCE.items():
            want = float(scores.loc[config, f"sample_{metric}"])
            row.update({f"{metric} (manifest)": want, f"{metric} (recomputed)": got[metric],
                        f"{metric} |diff|": abs(got[metric] - want), f"{metric} tolerance": tol})
            if not (math.isfinite(got[metric]) and abs(got[metric] - want) <= tol):
                raise ArtefactError(f"{protocol_dir / config / WEIGHTS_FILE}: regenerated {metric} = {got[metric]:.4f}"
                                    f" differs from the manifest's {want:.4f} by more than {tol}")
        out.append(row)
    return pd.DataFrame(out)
