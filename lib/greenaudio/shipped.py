"""Readers of the shipped zoo: its manifest, scores, DNSMOS table, training records, ground truth and trained weights,
each checked against the folder's sha256 manifest. The writers are :mod:`greenaudio.orchestration.export`.

Used by: the quality chapter (:mod:`greenaudio.chapters.quality`), Chapter 6 (trained weights), the cost chapter (the
three-tool energy table), notebooks/05_2_quality, and the exporter and verifier themselves.

Layout of ``<root>/<protocol>/`` (default root: the package's ``resources/zoo``)::

    manifest.csv                 one row per file: config, kind, path, bytes, sha256, provenance, reproduce
    scores.csv                   one row per configuration (and the ground truth): training record and scores
    dnsmos.csv                   DNSMOS per configuration and clip set (scripts/score_dnsmos.py)
    weights.csv                  per configuration: weights shipped or not, and why
    <model>-<size>/weights.safetensors and config.json   the weights and the model config they fit (where shipped)
    <model>-<size>/training.json the training record (steps, CPU and wall time, threads, energy with its method)
    <model>-<size>/curves.csv    the validation log over training time
    samples/<utterance>/<model>-<size>.flac and samples/<utterance>/ground_truth.flac

Every sample is generated from the mel of the *shipped* ground-truth FLAC (decoded, then the thesis's front-end and
the corpus's normaliser, both recorded), with the seed recorded in ``scores.csv``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .files import CONFIG_MANIFEST_COLUMNS, ArtefactError, check_listed_row, read_manifest

__all__ = ["default_zoo_dir", "UNLISTED_FILES", "VERIFY_TOLERANCE", "DNSMOS_COLUMNS", "load_manifest", "load_scores",
           "load_dnsmos", "load_weights_index", "check_listed_file", "load_weights", "load_shipped_model",
           "shipped_ground_truth", "shipped_training_workload"]

#: The zoo manifest's columns: the one schema of :mod:`greenaudio.files` with its configuration and kind columns.
ZOO_MANIFEST_COLUMNS = CONFIG_MANIFEST_COLUMNS
#: Test-split clips used as listenable samples (the same for every model).
SAMPLE_UTTERANCES = (0, 17, 34, 51)
#: The seed of every shipped sample and of the held-out clips the export scored.
SAMPLE_SEED = 1234
#: Largest accepted difference between a regenerated sample's scores and the manifest's.
VERIFY_TOLERANCE = {"d_stft": 2e-3, "pesq_wb": 0.05}

#: Files of a protocol folder that its manifest does not list, and why (the verifier accepts them; a listed one is
#: checked like any other file).
UNLISTED_FILES = {
    "scores.csv": "rewritten by every export after the manifest rows are written (one row per configuration), so no "
                  "manifest row could keep its hash; verify_artefacts checks its sample scores by regenerating samples",
}

#: The shipped DNSMOS scores of a protocol folder, listed in its manifest (config ``all``, kind ``scores``).
DNSMOS_FILE = "dnsmos.csv"
#: One row per (configuration, clip set): ``clips`` is ``"held-out"`` (the test split's first ``n_clips`` clips, the
#: configuration regenerated from its shipped weights) or ``"samples"`` (the shipped sample FLACs); the four DNSMOS
#: values are means over those clips; ``tool`` and ``created_utc`` say how and when.
DNSMOS_COLUMNS = ("config", "model", "size", "clips", "n_clips", "ovrl_mos", "sig_mos", "bak_mos", "p808_mos", "tool",
                  "created_utc")
DNSMOS_KEYS = ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")
DNSMOS_REPRODUCE = "python scripts/score_dnsmos.py --protocol {protocol}"
#: A configuration's shipped weights (safetensors; metadata: format version, steps, budget time) and, beside them, the
#: model config they fit (JSON, :meth:`greenaudio.vocoders.VocoderConfig.to_dict`).
WEIGHTS_FILE = "weights.safetensors"
MODEL_CONFIG_FILE = "config.json"
#: One row per exported configuration: whether its weights are shipped, their fp32 size and why (listed in the
#: manifest, config ``all``, kind ``weights-index``).
WEIGHTS_INDEX_FILE = "weights.csv"
WEIGHTS_INDEX_COLUMNS = ("config", "shipped", "bytes", "reason")


def default_zoo_dir() -> Path:
    """The package's shipped zoo folder (``greenaudio/resources/zoo``)."""
    return Path(__file__).resolve().parent / "resources" / "zoo"


def protocol_folder(protocol: str, root: str | os.PathLike | None = None) -> Path:
    """``<root>/<protocol>`` (default root: :func:`default_zoo_dir`)."""
    return (Path(root) if root else default_zoo_dir()) / protocol


def read_flac(path: Path) -> tuple[np.ndarray, int]:
    """A FLAC file's samples (float32) and sample rate."""
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32")
    return audio, int(sr)


def mels_from_audio(audio: np.ndarray, normalizer) -> Any:
    """The thesis front-end's mel of ``audio``, normalised with ``normalizer`` (how every shipped sample's input is
    computed from the shipped ground truth)."""
    import torch

    from .vocoders.mel import MelFrontEnd

    front = MelFrontEnd()
    with torch.no_grad():
        return normalizer.normalize(front(torch.as_tensor(np.asarray(audio, dtype=np.float32)))).float()


def load_manifest(protocol_dir: str | os.PathLike):
    """The manifest of a shipped protocol folder as a DataFrame of strings (empty with the columns when there is none).

    Raises:
        ArtefactError: a malformed manifest (not UTF-8, empty, not CSV, a missing column; names the file and what is
            wrong: :func:`greenaudio.files.read_manifest`).
    """
    return read_manifest(protocol_dir, columns=ZOO_MANIFEST_COLUMNS)


def load_scores(protocol_dir: str | os.PathLike):
    """The per-configuration scores table (``scores.csv``), empty when nothing is shipped."""
    import pandas as pd

    path = Path(protocol_dir) / "scores.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def check_listed_file(protocol_dir: str | os.PathLike, row) -> Path:
    """One manifest row's file, its path checked to stay inside ``protocol_dir`` and its sha256 and size to match."""
    return check_listed_row(protocol_dir, row)


def load_weights_index(protocol_dir: str | os.PathLike):
    """Which configurations' weights are shipped and why (:data:`WEIGHTS_INDEX_FILE`, checked against the manifest);
    empty (with the columns) when the folder has none."""
    import pandas as pd

    folder = Path(protocol_dir)
    manifest = load_manifest(folder)
    listed = manifest[manifest.path == WEIGHTS_INDEX_FILE]
    if listed.empty:
        return pd.DataFrame(columns=list(WEIGHTS_INDEX_COLUMNS))
    return pd.read_csv(check_listed_file(folder, listed.iloc[0]), keep_default_na=False)


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
                                f"`{DNSMOS_REPRODUCE.format(protocol=folder.name)}`)")
        check_listed_file(folder, listed.iloc[0])
    text = ("config", "model", "size", "clips", "tool", "created_utc")
    table = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in DNSMOS_KEYS},
                        dtype={c: str for c in text})
    missing = [c for c in DNSMOS_COLUMNS if c not in table.columns]
    if missing:
        raise ArtefactError(f"{path} lacks column(s) {missing}; it needs {list(DNSMOS_COLUMNS)}")
    return table


def _shipped_row(manifest, protocol_dir: Path, config: str, kind: str):
    rows = manifest[(manifest.config == config) & (manifest.kind == kind)]
    if rows.empty:
        raise ArtefactError(f"{protocol_dir / 'manifest.csv'} lists weights for {config!r} but no {kind} file "
                            f"({config}/{MODEL_CONFIG_FILE}); re-export the configuration")
    return check_listed_file(protocol_dir, rows.iloc[0])


def load_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The state dict (name -> torch tensor) of a shipped ``weights.safetensors`` file (read without pickle:
    :func:`greenaudio.files.read_safetensors`; check it against its manifest first)."""
    import torch

    from .files import read_safetensors

    return {name: torch.from_numpy(array) for name, array in read_safetensors(path)[0].items()}


def load_shipped_model(config: str, protocol: str = "mini", root: str | os.PathLike | None = None):
    """A shipped trained model (``config`` like ``"melgan-small"``) built from its ``config.json`` with its
    ``weights.safetensors``, both checked against the manifest, in eval mode.

    Raises:
        ArtefactError: no shipped weights for ``config`` (lists the configurations that have some), a sha256
            mismatch, or weights that do not fit the stored config (each message names the file).
    """
    from .vocoders import registry

    protocol_dir = protocol_folder(protocol, root)
    manifest = load_manifest(protocol_dir)
    rows = manifest[(manifest.config == config) & (manifest.kind == "weights")]
    if rows.empty:
        have = sorted(manifest[manifest.kind == "weights"].config.unique())
        raise ArtefactError(f"no shipped weights for {config!r} in {protocol_dir}; available: {have}")
    path = check_listed_file(protocol_dir, rows.iloc[0])
    model_config = json.loads(_shipped_row(manifest, protocol_dir, config, "model-config").read_text())
    model = registry.build(model_config)
    try:
        model.load_state_dict(load_weights(path))
    except RuntimeError as err:
        raise ArtefactError(f"{path}: the weights do not fit the stored config "
                            f"({model_config.get('model')}/{model_config.get('size')}): {err}") from err
    return model.eval()


def shipped_training_workload(spec: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """A shipped mini training run as a workload for the three-tool energy table
    (:func:`greenaudio.chapters.cost.energy_tools_table`).

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
    from .vocoders.mel import MelNormalizer

    protocol_dir = Path(protocol_dir)
    scores = load_scores(protocol_dir).set_index("config") if scores is None else scores
    gt = scores.loc["ground_truth"]
    normalizer = MelNormalizer(float(gt.normalizer_min), float(gt.normalizer_max))
    audio = np.stack([read_flac(p)[0] for p in sorted(protocol_dir.glob("samples/*/ground_truth.flac"))])
    return audio, mels_from_audio(audio, normalizer)
