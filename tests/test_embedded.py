"""greenaudio.embedded: thesis §6.4 and Table 10 (seconds per second of audio on a board, fits in RAM/storage)."""

import math

import pandas as pd
import pytest

from greenaudio import embedded, published


def _thesis_models() -> pd.DataFrame:
    costs = published.load_vocoder_costs()
    return costs.assign(params=costs.params_millions * 1e6)[["model", "size", "params", "gflops_per_audio_s"]]


def test_section_6_4_golden_values():
    fit = embedded.compute_embedded_fit(_thesis_models()).set_index(["model", "size", "board"])
    melgan = fit.loc[("melgan", "medium", "RPi 4B")]
    assert melgan.board_gflops == pytest.approx(9.92)
    assert round(melgan.seconds_per_audio_s, 3) == 0.708  # 7.02 / 9.92, "~0.7 seconds" in §6.4
    assert bool(melgan.real_time)
    hifigan = fit.loc[("hifigan", "large", "RPi 4B")]
    assert round(hifigan.seconds_per_audio_s, 2) == 4.09  # 40.57 / 9.92 (the text's 40.47 gives ~4 too)
    assert not bool(hifigan.real_time)
    assert embedded.compute_seconds_per_audio_s(7.02, 9.92) == pytest.approx(7.02 / 9.92)


def test_table_10_boards_and_fit_shape():
    boards = published.load_embedded_boards()
    fit = embedded.compute_embedded_fit(_thesis_models(), boards)
    assert len(fit) == 18 * len(boards) == 108
    assert fit.board.unique().tolist() == ["ATMega1280", "ATMega2560", "RPi 1B", "RPi 2B", "RPi 3B", "RPi 4B"]
    assert (fit.fp32_bytes == 4 * fit.params).all() and (fit.int8_bytes == fit.params).all()


def test_arduino_never_fits_and_raspberry_pi_ram_always_fits():
    fit = embedded.compute_embedded_fit(_thesis_models())
    arduino = fit[fit.family == "Arduino"]
    assert not arduino.fp32_fits_ram.any() and not arduino.int8_fits_ram.any() and not arduino.real_time.any()
    rpi = fit[fit.family == "Raspberry Pi"]
    assert rpi.fp32_fits_ram.all() and rpi.int8_fits_ram.all()


def test_fits_and_does_not_fit_cases():
    fit = embedded.compute_embedded_fit(_thesis_models()).set_index(["model", "size", "board"])
    # WaveGlow large: 87.73 M parameters = 350.9 MB in fp32 > the RPi 1B's 256 MB drive; 87.7 MB in int8 fits.
    row = fit.loc[("waveglow", "large", "RPi 1B")]
    assert row.fp32_bytes == 350_920_000
    assert bool(row.fp32_fits_ram) and not bool(row.fp32_fits_drive) and bool(row.int8_fits_drive)
    # HiFi-GAN small (0.928 M) fits everywhere on a Raspberry Pi, nowhere on an Arduino (8 KB RAM).
    assert bool(fit.loc[("hifigan", "small", "RPi 2B")].fp32_fits_drive)
    assert not bool(fit.loc[("hifigan", "small", "ATMega1280")].int8_fits_ram)
    assert embedded.compute_fits(1000, 1000) is True
    assert embedded.compute_fits(1001, 1000) is False


def test_unknown_storage_is_not_guessed():
    fit = embedded.compute_embedded_fit(_thesis_models())
    rpi4 = fit[fit.board == "RPi 4B"]
    assert rpi4.fp32_fits_drive.isna().all() and rpi4.int8_fits_drive.isna().all()
    assert rpi4.drive_note.str.contains("Micro-SD").all()
    assert rpi4.fp32_fits_ram.notna().all()
    assert (fit[fit.board != "RPi 4B"].drive_note == "").all()
    assert embedded.compute_fits(10, None) is pd.NA
    assert embedded.compute_fits(10, float("nan")) is pd.NA
    summary = embedded.compute_embedded_summary(fit).set_index("board")
    assert summary.loc["RPi 4B", "fp32_fits_drive"] is pd.NA
    assert summary.loc["RPi 1B", "fp32_fits_drive"] == 17
    assert summary.loc["RPi 4B", "real_time"] == 4  # MelGAN small/medium, HiFi-GAN small/medium
    assert summary.loc["RPi 4B", "fastest"] == "melgan small"


def test_board_selection():
    fit = embedded.compute_embedded_fit(_thesis_models(), board_names=["RPi 4B", "ATMega2560"])
    assert fit.board.unique().tolist() == ["RPi 4B", "ATMega2560"]


@pytest.mark.parametrize("gflops, board", [(0, 9.92), (-1, 9.92), (math.nan, 9.92), (1.0, 0), (1.0, math.inf),
                                           ("7", 9.92), (True, 9.92)])
def test_bad_speed_input(gflops, board):
    with pytest.raises(ValueError):
        embedded.compute_seconds_per_audio_s(gflops, board)


def test_bad_inputs():
    models = _thesis_models()
    with pytest.raises(ValueError, match="precision"):
        embedded.compute_model_bytes(1000, "fp16")
    with pytest.raises(ValueError, match="params"):
        embedded.compute_model_bytes(0)
    with pytest.raises(ValueError, match="gflops_per_audio_s"):
        embedded.compute_embedded_fit(models.drop(columns="gflops_per_audio_s"))
    with pytest.raises(ValueError, match="empty"):
        embedded.compute_embedded_fit(models.iloc[:0])
    with pytest.raises(ValueError, match="melgan small"):
        embedded.compute_embedded_fit(models.assign(params=models.params.where(models.index != 0, -5)))
    with pytest.raises(ValueError, match="unknown board"):
        embedded.compute_embedded_fit(models, board_names=["RPi 5"])
    with pytest.raises(ValueError, match="DataFrame"):
        embedded.compute_embedded_fit([{"model": "x"}])
    boards = published.load_embedded_boards()
    with pytest.raises(ValueError, match="RPi 1B"):
        embedded.compute_embedded_fit(models, boards.assign(flops=boards.flops.where(boards.board != "RPi 1B", 0)))


def test_measured_sizes_replace_the_params_rule():
    boards = published.load_embedded_boards()
    models = pd.DataFrame([
        {"model": "melgan", "size": "small", "params": 1_000_000, "gflops_per_audio_s": 1.0,
         "fp32_bytes": 4_146_183, "int8_bytes": 1_144_599},
        {"model": "hifigan", "size": "small", "params": 1_000_000, "gflops_per_audio_s": 1.0,
         "fp32_bytes": float("nan"), "int8_bytes": float("nan")},
    ])
    fit = embedded.compute_embedded_fit(models, boards, board_names=["ATMega2560", "RPi 1B"]).set_index(
        ["model", "board"])
    measured = fit.loc[("melgan", "RPi 1B")]
    assert measured.fp32_bytes == 4_146_183 and measured.int8_bytes == 1_144_599
    assert measured.bytes_method == embedded.BYTES_MEASURED
    assert bool(measured.int8_fits_ram)  # 1.1 MB in 512 MB
    assert not bool(fit.loc[("melgan", "ATMega2560")].int8_fits_drive)  # 1.1 MB > 256 KB of flash
    fallback = fit.loc[("hifigan", "RPi 1B")]
    assert fallback.fp32_bytes == 4_000_000 and fallback.int8_bytes == 1_000_000
    assert fallback.bytes_method == embedded.BYTES_COMPUTED
    bad = models.assign(fp32_bytes=[-1.0, 1.0], int8_bytes=[1.0, 1.0])
    with pytest.raises(ValueError, match="fp32_bytes"):
        embedded.compute_embedded_fit(bad, boards)


def test_section_6_4_facts_by_hand_from_tables_8_and_10():
    facts = embedded.compute_section_6_4_facts(embedded.compute_thesis_embedded_fit())
    assert round(facts["melgan_medium_rpi4_s"], 3) == 0.708  # 7.02 / 9.92 ("~ 0.7 seconds", §6.4)
    assert round(facts["hifigan_large_rpi4_s"], 2) == 4.09  # 40.57 / 9.92 ("~ 4 seconds")
    # Arduinos (8 and 16 KB of RAM): no pair fits, even in int8; the fastest is MelGAN small on the ATMega2560
    assert (facts["arduino_pairs"], facts["arduino_fp32_fit_ram"], facts["arduino_int8_fit_ram"]) == (36, 0, 0)
    assert facts["arduino_fastest_s"] == pytest.approx(1.39e9 / 256e3)
    # GFLOPs <= board GFLOPS: RPi 2B (1.47) MelGAN small; RPi 3B (3.62) + HiFi-GAN small, medium; RPi 4B (9.92)
    # + MelGAN medium: 0 + 1 + 3 + 4
    assert facts["rpi_real_time"] == 8 and facts["rpi_pairs"] == 72 and facts["rpi_fp32_fit_ram"] == 72
    # only WaveGlow large (87.73 M x 4 bytes = 351 MB) exceeds the RPi 1B's 256 MB drive; in int8 (88 MB) it fits
    assert (facts["configurations"], facts["fit_every_rpi_fp32"], facts["fit_every_rpi_int8"]) == (18, 17, 18)
    assert facts["rpi1b_fp32_too_big"] == 1
