"""Can a vocoder run on an embedded board? Thesis §6.4 and Table 10, computed.

Used by: notebooks/06_quantization.ipynb (Table 10; §6.4 on the thesis's own numbers, and again from the measured
fp32 and int8 file sizes).

For each (vocoder configuration, board) pair:

* **speed** — seconds needed to generate one second of audio, ``gflops_per_audio_s / board_gflops`` (the thesis's
  "7.02 / 9.92 ~ 0.7 seconds" for MelGAN medium on a Raspberry Pi 4B). It assumes the board sustains its nominal
  FLOPS on this workload, which is optimistic: real throughput is lower, so these are lower bounds on the time.
  The configuration is *real-time* when generating one second takes at most one second.
* **memory** — whether the weights fit in the board's RAM and in its storage ("drive"): ``params x 4`` bytes in
  float32, ``params x 1`` byte in int8 (:data:`BYTES_PER_PARAMETER`). Activations, the program and the operating
  system are not counted, so "fits" is a necessary condition, not a sufficient one. When the ``models`` table
  carries *measured* serialised sizes (``fp32_bytes`` / ``int8_bytes`` columns, e.g. from
  :mod:`greenaudio.quantization`), those are used instead, and the ``bytes_method`` column says which was used.

Boards come from :func:`greenaudio.published.load_embedded_boards` (Table 10), whose ``ram_bytes``/``drive_bytes``
columns hold the printed sizes in bytes (1 KB = 1e3 bytes, 1 GB = 1e9 bytes, as printed). A board whose storage is
not fixed (the RPi 4B boots from a removable micro-SD card) has no ``drive_bytes``: its "fits in storage" answers are
*unknown* (``pd.NA``), never guessed, and the ``drive_note`` column says why. The RPi 4B's RAM is printed "1-2-4-8GB";
the data file keeps the smallest variant (1 GB), the conservative reading.
"""

from __future__ import annotations

import math
from numbers import Real

import pandas as pd

__all__ = ["compute_embedded_fit", "compute_embedded_summary", "compute_thesis_embedded_fit",
           "compute_section_6_4_facts", "compute_seconds_by_board"]

#: Bytes per weight for each precision considered in §6.4 (float32 and the int8 of Chapter 6's quantisation).
BYTES_PER_PARAMETER = {"fp32": 4, "int8": 1}

#: ``bytes_method`` labels of :func:`compute_embedded_fit`.
BYTES_MEASURED = "measured: serialised files"
BYTES_COMPUTED = "computed: params x 4 (fp32), x 1 (int8)"

#: A configuration is real-time on a board when one second of audio takes at most this many seconds.
REAL_TIME_THRESHOLD = 1.0

_MODEL_COLUMNS = ("model", "size", "params", "gflops_per_audio_s")
_BOARD_COLUMNS = ("board", "flops", "ram_bytes", "drive_bytes")


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def compute_seconds_per_audio_s(gflops_per_audio_s: float, board_gflops: float) -> float:
    """Seconds a board needs to generate one second of audio (``gflops_per_audio_s / board_gflops``).

    Args:
        gflops_per_audio_s: the model's cost (in GFLOPs per second of audio, Table 8's column).
        board_gflops: the board's throughput (in GFLOPS, i.e. 1e9 floating-point operations per second).

    Returns:
        seconds of computation per second of audio (<= 1 is real-time).
    """
    return _positive("gflops_per_audio_s", gflops_per_audio_s) / _positive("board_gflops", board_gflops)


def compute_model_bytes(params: int, precision: str = "fp32") -> int:
    """Size of a model's weights (in bytes): ``params x BYTES_PER_PARAMETER[precision]``."""
    if precision not in BYTES_PER_PARAMETER:
        raise ValueError(f"unknown precision {precision!r}; valid precisions: {list(BYTES_PER_PARAMETER)}")
    if isinstance(params, bool) or not isinstance(params, Real) or not math.isfinite(float(params)) or params <= 0:
        raise ValueError(f"params must be a finite number > 0, got {params!r}")
    return int(round(float(params))) * BYTES_PER_PARAMETER[precision]


def compute_fits(model_bytes: int, capacity_bytes: float | None):
    """Whether ``model_bytes`` fit in ``capacity_bytes``; ``pd.NA`` when the capacity is unknown (None or NaN)."""
    _positive("model_bytes", model_bytes)
    if capacity_bytes is None or (isinstance(capacity_bytes, float) and math.isnan(capacity_bytes)) \
            or capacity_bytes is pd.NA:
        return pd.NA
    return bool(model_bytes <= _positive("capacity_bytes", capacity_bytes))


def _check_columns(table: pd.DataFrame, required, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; required: {list(required)}; got {list(table.columns)}")
    if table.empty:
        raise ValueError(f"{what} is empty")


def _model_costs(m) -> tuple[float, int, int, str]:
    """``(GFLOPs per second of audio, fp32 bytes, int8 bytes, how the bytes were obtained)`` of one configuration."""
    try:
        gflops = _positive("gflops_per_audio_s", m.gflops_per_audio_s)
        fp32 = compute_model_bytes(m.params, "fp32")
        int8 = compute_model_bytes(m.params, "int8")
        bytes_method = BYTES_COMPUTED
        measured = (getattr(m, "fp32_bytes", None), getattr(m, "int8_bytes", None))
        if all(v is not None and not pd.isna(v) for v in measured):
            fp32 = int(_positive("fp32_bytes", float(measured[0])))
            int8 = int(_positive("int8_bytes", float(measured[1])))
            bytes_method = BYTES_MEASURED
    except ValueError as exc:
        raise ValueError(f"configuration {m.model} {m.size}: {exc}") from None
    return gflops, fp32, int8, bytes_method


def _fit_row(m, b, gflops: float, fp32: int, int8: int, bytes_method: str) -> dict:
    """The row of :func:`compute_embedded_fit` of configuration ``m`` on board ``b``."""
    try:
        board_gflops = _positive("flops", b.flops) / 1e9
        ram = _positive("ram_bytes", b.ram_bytes)
    except ValueError as exc:
        raise ValueError(f"board {b.board!r}: {exc}") from None
    drive = None if pd.isna(b.drive_bytes) else b.drive_bytes
    seconds = compute_seconds_per_audio_s(gflops, board_gflops)
    if drive is None:
        printed = getattr(b, "drive_printed", "")
        note = f"storage size unknown (printed {printed!r}): fit in storage not decided"
    else:
        note = ""
    return {
        "model": m.model, "size": m.size, "board": b.board, "family": getattr(b, "family", ""),
        "params": int(round(float(m.params))), "gflops_per_audio_s": gflops, "board_gflops": board_gflops,
        "seconds_per_audio_s": seconds, "real_time": seconds <= REAL_TIME_THRESHOLD, "fp32_bytes": fp32,
        "int8_bytes": int8, "ram_bytes": ram, "drive_bytes": float("nan") if drive is None else float(drive),
        "fp32_fits_ram": compute_fits(fp32, ram), "int8_fits_ram": compute_fits(int8, ram),
        "fp32_fits_drive": compute_fits(fp32, drive), "int8_fits_drive": compute_fits(int8, drive),
        "drive_note": note, "bytes_method": bytes_method,
    }


def compute_embedded_fit(models: pd.DataFrame, boards: pd.DataFrame | None = None,
                         board_names: list[str] | None = None) -> pd.DataFrame:
    """Speed and memory fit of every model configuration on every board (thesis §6.4).

    Args:
        models: one row per configuration with ``model, size, params`` (a count, not millions) and
            ``gflops_per_audio_s``; other columns are ignored.
        boards: Table 10 (default :func:`greenaudio.published.load_embedded_boards`): ``board, flops`` (in FLOPS),
            ``ram_bytes, drive_bytes`` (in bytes; ``drive_bytes`` may be missing = unknown).
        board_names: keep only these boards (in this order); unknown names raise ``ValueError``.

    Returns:
        one row per (configuration, board): ``model, size, board, family, params, gflops_per_audio_s, board_gflops,
        seconds_per_audio_s, real_time, fp32_bytes, int8_bytes, ram_bytes, drive_bytes, fp32_fits_ram,
        int8_fits_ram, fp32_fits_drive, int8_fits_drive, drive_note, bytes_method``. The ``*_fits_*`` columns
        are pandas ``boolean`` (``<NA>`` where the capacity is unknown). ``models`` may carry measured
        ``fp32_bytes`` / ``int8_bytes`` (in bytes; both, finite and > 0 for a row to use them): then
        ``bytes_method`` is ``"measured: serialised files"``, else ``"computed: params x 4 (fp32), x 1 (int8)"``.
    """
    if boards is None:
        from . import published

        boards = published.load_embedded_boards()
    _check_columns(models, _MODEL_COLUMNS, "models")
    _check_columns(boards, _BOARD_COLUMNS, "boards")
    if board_names is not None:
        valid = boards["board"].tolist()
        unknown = [b for b in board_names if b not in valid]
        if unknown:
            raise ValueError(f"unknown board(s) {unknown}; valid boards: {valid}")
        boards = boards.set_index("board").loc[list(board_names)].reset_index()

    rows = []
    for m in models.itertuples(index=False):
        gflops, fp32, int8, bytes_method = _model_costs(m)
        for b in boards.itertuples(index=False):
            rows.append(_fit_row(m, b, gflops, fp32, int8, bytes_method))
    out = pd.DataFrame(rows)
    for c in ("fp32_fits_ram", "int8_fits_ram", "fp32_fits_drive", "int8_fits_drive"):
        out[c] = out[c].astype("boolean")
    return out


def compute_embedded_summary(fit: pd.DataFrame) -> pd.DataFrame:
    """Per board: how many configurations are real-time and fit in RAM / storage (fp32, int8).

    Args:
        fit: output of :func:`compute_embedded_fit`.

    Returns:
        ``board, configurations, real_time, fp32_fits_ram, int8_fits_ram, fp32_fits_drive, int8_fits_drive,
        fastest, fastest_seconds_per_audio_s``; a storage count is ``<NA>`` when the storage size is unknown.
    """
    needed = ("board", "model", "size", "seconds_per_audio_s", "real_time", "fp32_fits_ram", "int8_fits_ram",
              "fp32_fits_drive", "int8_fits_drive")
    _check_columns(fit, needed, "fit")
    rows = []
    for board, part in fit.groupby("board", sort=False):
        fastest = part.loc[part["seconds_per_audio_s"].idxmin()]
        row = {"board": board, "configurations": len(part), "real_time": int(part["real_time"].sum())}
        for c in ("fp32_fits_ram", "int8_fits_ram", "fp32_fits_drive", "int8_fits_drive"):
            col = part[c].astype("boolean")
            row[c] = pd.NA if col.isna().any() else int(col.sum())
        row["fastest"] = f"{fastest['model']} {fastest['size']}"
        row["fastest_seconds_per_audio_s"] = float(fastest["seconds_per_audio_s"])
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("fp32_fits_drive", "int8_fits_drive"):
        out[c] = out[c].astype("Int64")
    return out


def compute_thesis_embedded_fit() -> pd.DataFrame:
    """§6.4 on the thesis's own numbers: every configuration of Table 8 (its parameters and GFLOPs per second of
    audio, data) on every board of Table 10 (data), as :func:`compute_embedded_fit` (sizes computed, params x 4 / x 1)."""
    from . import published

    thesis = published.load_vocoder_costs()
    models = thesis.assign(params=thesis.params_millions * 1e6)[list(_MODEL_COLUMNS)]
    return compute_embedded_fit(models, published.load_embedded_boards())


def compute_seconds_by_board(fit: pd.DataFrame) -> pd.DataFrame:
    """``fit`` (from :func:`compute_embedded_fit`) as one row per configuration and one column per board (in the
    order the boards appear): seconds needed per second of audio (estimate)."""
    _check_columns(fit, ["model", "size", "board", "seconds_per_audio_s"], "fit")
    boards = list(dict.fromkeys(fit["board"]))
    table = fit.pivot_table(index=["model", "size"], columns="board", values="seconds_per_audio_s", sort=False)
    return table[boards].reset_index().rename_axis(columns=None)


def compute_section_6_4_facts(fit: pd.DataFrame) -> dict[str, float | int | bool]:
    """The numbers behind §6.4's statements, from :func:`compute_embedded_fit` rows (e.g.
    :func:`compute_thesis_embedded_fit`, the thesis's own numbers).

    Returns:
        ``melgan_medium_rpi4_s`` and ``hifigan_large_rpi4_s`` (seconds per second of audio on an RPi 4B, the text's
        "7.02/9.92 ~ 0.7" and "40.47/9.92 ~ 4"); for the Arduinos: ``arduino_pairs`` (configuration, board pairs),
        ``arduino_fp32_fit_ram`` and ``arduino_int8_fit_ram`` (pairs whose weights fit in RAM), ``arduino_real_time``
        and ``arduino_fastest_s``; for the Raspberry Pis: ``rpi_pairs``, ``rpi_fp32_fit_ram``, ``rpi_real_time``,
        ``configurations``, ``fit_every_rpi_fp32`` and ``fit_every_rpi_int8`` (configurations whose weights fit in
        RAM and storage of every Raspberry Pi, a storage of unknown size not counted against them),
        ``rpi1b_fp32_too_big`` (configurations whose fp32 weights do not fit the RPi 1B, the smallest).
    """
    _check_columns(fit, ("model", "size", "board", "family", "seconds_per_audio_s", "real_time", "fp32_fits_ram",
                         "int8_fits_ram", "fp32_fits_drive", "int8_fits_drive"), "fit")
    indexed = fit.set_index(["model", "size", "board"])
    arduino = fit[fit["family"] == "Arduino"]
    rpi = fit[fit["family"] == "Raspberry Pi"]

    def fits_everywhere(precision: str) -> int:
        ok = rpi[f"{precision}_fits_ram"].astype(bool) & rpi[f"{precision}_fits_drive"].fillna(True).astype(bool)
        return int(ok.groupby([rpi["model"], rpi["size"]]).all().sum())

    rpi1b = rpi[rpi["board"] == "RPi 1B"]
    rpi1b_fp32 = rpi1b["fp32_fits_ram"].astype(bool) & rpi1b["fp32_fits_drive"].fillna(True).astype(bool)
    return {
        "melgan_medium_rpi4_s": float(indexed.loc[("melgan", "medium", "RPi 4B"), "seconds_per_audio_s"]),
        "hifigan_large_rpi4_s": float(indexed.loc[("hifigan", "large", "RPi 4B"), "seconds_per_audio_s"]),
        "arduino_pairs": len(arduino),
        "arduino_fp32_fit_ram": int(arduino["fp32_fits_ram"].astype(bool).sum()),
        "arduino_int8_fit_ram": int(arduino["int8_fits_ram"].astype(bool).sum()),
        "arduino_real_time": int(arduino["real_time"].astype(bool).sum()),
        "arduino_fastest_s": float(arduino["seconds_per_audio_s"].min()),
        "rpi_pairs": len(rpi),
        "rpi_fp32_fit_ram": int(rpi["fp32_fits_ram"].astype(bool).sum()),
        "rpi_real_time": int(rpi["real_time"].astype(bool).sum()),
        "configurations": len(fit[["model", "size"]].drop_duplicates()),
        "fit_every_rpi_fp32": fits_everywhere("fp32"),
        "fit_every_rpi_int8": fits_everywhere("int8"),
        "rpi1b_fp32_too_big": int((~rpi1b_fp32).sum()),
    }
