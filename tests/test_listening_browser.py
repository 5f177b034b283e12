"""The listening-test page in a real browser: Debian's headless Chromium driven by selenium, opened from disk.

The page is built from a fake samples tree (sines and noise written here), every trial is played and rated, the tab
is reloaded half-way (the session must resume from localStorage), and the downloaded result file must match the
clicks, the Python mirror of the page's trial order and its checksum, and be accepted by greenaudio.listening.
These ratings are test data; they never leave the temporary folder.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from greenaudio import listening

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
selenium = pytest.importorskip("selenium", reason="selenium is not installed (requirements/ci.txt pins it)")
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh installs them as root)")

RATER = "browser-test-rater"
#: The score this test gives each condition (the hidden reference high, the anchor low, so screening passes).
SCORES = {"ground_truth": 5, "hifigan-small": 4, "melgan-small": 2, "anchor": 1}


def fake_samples(root: Path, n_utterances: int = 4, seconds: float = 0.25, rate: int = 16000) -> Path:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    for u in range(n_utterances):
        folder = root / f"utt{u:02d}"
        folder.mkdir(parents=True)
        clean = 0.3 * np.sin(2 * np.pi * (200 + 40 * u) * t)
        sf.write(folder / "ground_truth.flac", clean, rate)
        for k, name in enumerate(["hifigan-small", "melgan-small"]):
            noise = np.random.default_rng(10 * u + k).standard_normal(t.size)
            sf.write(folder / f"{name}.flac", clean + 0.05 * (k + 1) * noise, rate)
    return root


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # An explicit driver path: selenium-manager (which would download a browser/driver) is never used.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver, downloads
    finally:
        driver.quit()


def _wait(predicate, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _fast(driver, audio_id):
    # speed playback up 16x (the browser's maximum) so the test stays short; 'ended' still fires normally
    driver.execute_script("var a = document.getElementById(arguments[0]); a.defaultPlaybackRate = 16; "
                          "a.playbackRate = 16;", audio_id)


@pytest.mark.slow  # about 25 s on the 2-core development machine (most of it Chromium start and 16 trials)
def test_page_in_headless_chromium(tmp_path, browser):
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    # without samples, the page says so
    listening.build_test_page(tmp_path / "no-samples", tmp_path / "empty-app")
    driver.get((tmp_path / "empty-app" / "index.html").as_uri())
    assert driver.find_element(By.ID, "not-built").is_displayed()
    assert not driver.find_element(By.ID, "intro").is_displayed()

    build = listening.build_test_page(fake_samples(tmp_path / "samples"), tmp_path / "site" / "app")
    manifest = json.loads((build.out_dir / "manifest.json").read_text())
    url = (build.out_dir / "index.html").as_uri() + f"?rater={RATER}"
    driver.get(url)
    el = driver.find_element

    assert el(By.ID, "intro").is_displayed()
    assert el(By.ID, "rater-id").text == RATER
    assert el(By.ID, "n-trials").text == "16"  # 4 utterances x (2 configurations + reference + anchor)
    el(By.ID, "start").click()

    # headphone check: answers right, right, wrong
    wanted = [c["answer"] for c in manifest["headphone_check"]]
    given = [wanted[0], wanted[1], (wanted[2] + 1) % 3]
    for answer in given:
        buttons = el(By.ID, "hp-choices").find_elements(By.TAG_NAME, "button")
        assert not any(b.is_enabled() for b in buttons), "headphone answers enabled before the clip played"
        _fast(driver, "hp-audio")
        el(By.ID, "hp-play").click()
        _wait(lambda: buttons[answer].is_enabled(), what="end of the headphone clip")
        buttons[answer].click()

    # training: both examples must be played to the end before the test starts
    assert el(By.ID, "training").is_displayed()
    assert not el(By.ID, "training-done").is_enabled()
    driver.execute_script("document.querySelectorAll('#training-list audio').forEach(function (a) {"
                          "a.defaultPlaybackRate = 16; a.playbackRate = 16; a.play(); });")
    _wait(lambda: el(By.ID, "training-done").is_enabled(), what="end of the training examples")
    el(By.ID, "training-done").click()

    stimulus_to_trial = {t["stimulus"]: t for t in manifest["trials"]}
    clicks = []
    for k in range(16):
        if k == 7:  # close the tab half-way: the session resumes where it stopped
            driver.get("about:blank")
            driver.get(url)
            assert el(By.ID, "trials").is_displayed()
        # one round trip: what the page shows (trial number, progress, audio file, rating locked) + 16x playback
        shown = driver.execute_script(
            "var a = document.getElementById('trial-audio'); a.defaultPlaybackRate = 16; a.playbackRate = 16;"
            "return [document.getElementById('trial-index').textContent, document.getElementById('progress').value,"
            " a.getAttribute('src'), document.getElementById('rating').disabled];")
        assert shown[:2] == [str(k + 1), k]
        assert shown[3] is True, "a trial could be rated before its audio played"
        stimulus = Path(shown[2]).stem
        score = SCORES[stimulus_to_trial[stimulus]["condition"]]
        radio = el(By.CSS_SELECTOR, f"input[name=score][value='{score}']")
        assert not radio.is_enabled()
        el(By.ID, "play").click()
        _wait(lambda: radio.is_enabled(), what=f"end of trial {k + 1}")
        radio.click()
        el(By.ID, "next").click()
        clicks.append((stimulus, score))

    assert el(By.ID, "done").is_displayed()
    el(By.ID, "download").click()
    path = _wait(lambda: [p for p in downloads.glob("*.json")], what="the downloaded result file")[0]
    _wait(lambda: not list(downloads.glob("*.crdownload")), what="the download to finish")
    result = json.loads(path.read_text())

    assert path.name == f"listening-{build.page_version[:8]}-{RATER}.json"
    assert result["schema_version"] == listening.page.SCHEMA_VERSION
    assert (result["rater_id"], result["page_version"]) == (RATER, build.page_version)
    assert result["complete"] is True and result["n_trials"] == 16
    assert [(r["stimulus"], r["score"]) for r in result["ratings"]] == clicks
    assert result["headphone_check"]["answers"] == given
    assert (result["headphone_check"]["n_correct"], result["headphone_check"]["passed"]) == (2, False)
    # the page's order is the Python mirror's (two implementations of the same seeded shuffle)
    order = listening.page.trial_order(RATER, [t["utterance"] for t in manifest["trials"]])
    assert [r["stimulus"] for r in result["ratings"]] == [manifest["trials"][i]["stimulus"] for i in order]
    for prev, r in zip(result["ratings"], result["ratings"][1:]):
        assert prev["utterance"] != r["utterance"]
    for r in result["ratings"]:
        assert r["presented_ms"] <= r["first_play_ms"] <= r["ended_ms"] <= r["rated_ms"]
        assert r["plays"] == 1
    # the page's SHA-256 (JavaScript) equals hashlib's over the canonical text
    assert result["checksum"]["value"] == listening.results.compute_checksum(result)

    results = listening.load_results(downloads)
    assert results.counts()["accepted"] == 1
    mos = listening.compute_mos(results).set_index("condition")["mos"]
    for condition, score in SCORES.items():
        assert mos[condition] == score  # every stimulus of a condition got the same click
    assert len(results.ratings) == 16
