"""greenaudio.listening: the page builder, result-file validation, MOS intervals and the seaborn figures.

Result files here are written by the test itself (the checksum from hashlib over the canonical text as the module
docstring specifies it), so validation is checked against an independent writer. The browser test
(test_listening_browser.py) checks the page's own files.
"""

from __future__ import annotations

import hashlib
import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from greenaudio import listening
from greenaudio.listening import page as page_module
from greenaudio.listening.sphinx_ext import results_markdown

matplotlib.use("Agg")

CONDITIONS = ["hifigan-small", "melgan-small", "ground_truth", "anchor"]


# ---------------------------------------------------------------- fake samples and result files (test-side writers)

def write_samples(root, n_utterances=3, configs=("hifigan-small", "melgan-small"), seconds=0.2, rate=16000):
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    for u in range(n_utterances):
        folder = root / f"utt{u}"
        folder.mkdir(parents=True)
        clean = 0.3 * np.sin(2 * np.pi * (200 + 50 * u) * t)
        sf.write(folder / "ground_truth.flac", clean, rate)
        for k, name in enumerate(configs):
            sf.write(folder / f"{name}.flac", clean + 0.02 * (k + 1) * np.cos(2 * np.pi * 3000 * t), rate)
    return root


def make_result(rater, scores, *, page_version="0123456789abcdef", complete=True, n_trials=None, hp=(0, 1, 2)):
    """A result file as the page writes it; ``scores`` maps condition -> list of scores, one per utterance."""
    ratings = []
    for u in range(len(next(iter(scores.values())))):
        for condition in scores:
            kind = {"ground_truth": "reference", "anchor": "anchor"}.get(condition, "system")
            model, size = condition.rsplit("-", 1) if kind == "system" else (condition, "")
            t0 = 1_700_000_000_000 + 10_000 * len(ratings)
            ratings.append({"index": len(ratings), "stimulus": f"s{condition}{u}", "utterance": f"u{u}",
                            "condition": condition, "model": model, "size": size, "kind": kind,
                            "score": scores[condition][u], "presented_ms": t0, "first_play_ms": t0 + 500,
                            "ended_ms": t0 + 1500, "rated_ms": t0 + 3000, "plays": 1})
    total = n_trials if n_trials is not None else len(ratings)
    if not complete:
        ratings = ratings[: len(ratings) // 2]
    result = {"schema": "greenaudio-listening-result", "schema_version": 1, "rater_id": rater,
              "page_version": page_version, "started_at": "2026-01-01T10:00:00Z", "finished_at": None,
              "user_agent": "test", "n_trials": total, "complete": complete,
              "headphone_check": {"answers": list(hp), "n_correct": 3, "n_trials": 3, "passed": True},
              "ratings": ratings}
    return sign(result)


def sign(result):
    lines = ["greenaudio-listening-result", "1", result["rater_id"], result["page_version"], str(result["n_trials"]),
             "complete" if result["complete"] else "incomplete",
             "headphones\t" + ",".join(map(str, result["headphone_check"]["answers"]))]
    for r in result["ratings"]:
        lines.append("\t".join(str(r[k]) for k in ("index", "stimulus", "utterance", "condition", "score",
                                                    "presented_ms", "first_play_ms", "ended_ms", "rated_ms", "plays")))
    result["checksum"] = {"algorithm": "sha256", "value": hashlib.sha256("\n".join(lines).encode()).hexdigest()}
    return result


def result_for_page(manifest, rater, scores):
    """A complete result file for a built page (its stimuli, in manifest order); ``scores`` maps condition -> score."""
    ratings = []
    for i, t in enumerate(manifest["trials"]):
        t0 = 1_700_000_000_000 + 10_000 * i
        ratings.append({"index": i, "stimulus": t["stimulus"], "utterance": t["utterance"], "condition": t["condition"],
                        "model": t["model"], "size": t["size"], "kind": t["kind"], "score": scores[t["condition"]],
                        "presented_ms": t0, "first_play_ms": t0 + 500, "ended_ms": t0 + 1500, "rated_ms": t0 + 3000,
                        "plays": 1})
    return sign({"schema": "greenaudio-listening-result", "schema_version": 1, "rater_id": rater,
                 "page_version": manifest["page_version"], "n_trials": len(ratings), "complete": True,
                 "headphone_check": {"answers": [c["answer"] for c in manifest["headphone_check"]], "passed": True},
                 "ratings": ratings})


def dump(folder, name, result):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(result) if not isinstance(result, str) else result)
    return path


GOOD = {"hifigan-small": [4, 5], "melgan-small": [2, 3], "ground_truth": [5, 5], "anchor": [1, 1]}


# ---------------------------------------------------------------- samples tree and page


def test_discover_samples_rejects_malformed_trees(tmp_path):
    write_samples(tmp_path / "ok", n_utterances=2)
    assert list(listening.page.discover_samples(tmp_path / "ok")) == ["utt0", "utt1"]
    bad = write_samples(tmp_path / "no_gt", n_utterances=2)
    (bad / "utt1" / "ground_truth.flac").unlink()
    with pytest.raises(ValueError, match="utt1.*no ground_truth.flac"):
        listening.page.discover_samples(bad)
    uneven = write_samples(tmp_path / "uneven", n_utterances=2)
    (uneven / "utt1" / "melgan-small.flac").unlink()
    with pytest.raises(ValueError, match="same configurations"):
        listening.page.discover_samples(uneven)
    badname = write_samples(tmp_path / "badname", n_utterances=1)
    (badname / "utt0" / "hifigan-small.flac").rename(badname / "utt0" / "hifigan.flac")
    with pytest.raises(ValueError, match="<model>-<size>"):
        listening.page.discover_samples(badname)


def test_build_test_page_writes_complete_trial_set(tmp_path):
    samples = write_samples(tmp_path / "samples", n_utterances=3)
    build = listening.build_test_page(samples, tmp_path / "app")
    assert build.built and build.n_trials == 3 * 4 and build.n_utterances == 3
    assert build.conditions == ("hifigan-small", "melgan-small", "ground_truth", "anchor")
    manifest = json.loads((build.out_dir / "manifest.json").read_text())
    assert manifest["page_version"] == build.page_version and len(build.page_version) == 16
    pairs = {(t["utterance"], t["condition"]) for t in manifest["trials"]}
    assert pairs == {(f"utt{u}", c) for u in range(3) for c in CONDITIONS}
    # 12 stimuli + 2 training examples + 3 headphone clips, under names that do not reveal the condition
    wavs = sorted(p.name for p in (build.out_dir / "audio").glob("*.wav"))
    assert len(wavs) == 17 and not any("melgan" in w or "ground" in w for w in wavs if not w.startswith("train"))
    import soundfile as sf

    for t in manifest["trials"]:
        x, rate = sf.read(build.out_dir / t["audio"])
        assert rate == 16000
        assert 20 * math.log10(np.sqrt(np.mean(x ** 2))) == pytest.approx(-26.0, abs=0.05)
    js = (build.out_dir / "trials.js").read_text()
    assert js.startswith("window.GREENAUDIO_LISTENING = ") and build.page_version in js
    assert '<script src="trials.js">' in (build.out_dir / "index.html").read_text()
    for name in ("Excellent", "Good", "Fair", "Poor", "Bad"):
        assert name in (build.out_dir / "index.html").read_text()


def test_page_version_is_a_hash_of_the_trial_set(tmp_path):
    import soundfile as sf

    samples = write_samples(tmp_path / "samples", n_utterances=2)
    v1 = listening.build_test_page(samples, tmp_path / "a").page_version
    assert listening.build_test_page(samples, tmp_path / "b").page_version == v1  # reproducible
    sf.write(samples / "utt1" / "melgan-small.flac", np.zeros(3200), 16000)
    assert listening.build_test_page(samples, tmp_path / "c", normalise_dbfs=None).page_version != v1


def test_missing_samples_give_a_not_built_page(tmp_path):
    build = listening.build_test_page(tmp_path / "absent", tmp_path / "app")
    assert not build.built and build.n_trials == 0
    html = (tmp_path / "app" / "index.html").read_text()
    assert "The samples are not built yet" in html and "trials.js" not in html


def test_low_anchor_is_band_limited_and_mnru_noisy():
    rate = 16000
    white = np.random.default_rng(1).standard_normal(rate) * 0.1
    clean = listening.page.make_low_anchor(white, rate, q_db=300.0)  # Q = 300 dB: no noise, the low-pass alone
    spectrum = np.abs(np.fft.rfft(clean)) ** 2
    freqs = np.fft.rfftfreq(rate, 1 / rate)
    assert spectrum[freqs > 4500].sum() < 1e-3 * spectrum[freqs < 3000].sum()
    # MNRU: y = x (1 + 10^(-Q/20) n); on a constant 0.5 the relative deviation has std 10^(-10/20) = 0.316
    flat = listening.page.make_low_anchor(np.full(rate, 0.5), rate, q_db=10.0)[2000:-2000]
    assert np.std(flat / 0.5) == pytest.approx(10 ** (-0.5), rel=0.05)
    with pytest.raises(ValueError, match="too low"):
        listening.page.make_low_anchor(white, 6000)


def test_headphone_check_has_a_6db_quieter_tone_and_an_antiphase_tone():
    rate = 16000
    clip = listening.page.make_headphone_check(rate, quiet_position=2, antiphase_position=0)
    tone = rate  # 1 s tones, 0.5 s gaps
    parts = [clip[k * (tone + rate // 2): k * (tone + rate // 2) + tone] for k in range(3)]
    rms = [np.sqrt(np.mean(p[:, 0] ** 2)) for p in parts]
    assert rms[2] / rms[1] == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    assert rms[0] == pytest.approx(rms[1])
    np.testing.assert_allclose(parts[0][:, 1], -parts[0][:, 0])
    np.testing.assert_allclose(parts[1][:, 1], parts[1][:, 0])
    with pytest.raises(ValueError, match="different"):
        listening.page.make_headphone_check(rate, quiet_position=1, antiphase_position=1)


# ---------------------------------------------------------------- presentation order


def test_prng_primitives_match_published_vectors():
    # FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference) and the first xorshift32 output from state 1 (Marsaglia)
    assert page_module._fnv1a("") == 0x811C9DC5
    assert page_module._fnv1a("a") == 0xE40C292C
    assert page_module._fnv1a("foobar") == 0xBF9CF968
    x = 1
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    assert x == 270369


@pytest.mark.parametrize("n_utt,n_cond", [(2, 1), (2, 5), (3, 4), (4, 20), (7, 3)])
def test_trial_order_is_a_seeded_permutation_without_neighbouring_utterances(n_utt, n_cond):
    utterances = [f"u{u}" for u in range(n_utt) for _ in range(n_cond)]
    orders = {}
    for rater in ["r1", "r2", "r3", "teacher-07"]:
        order = listening.page.trial_order(rater, utterances)
        assert sorted(order) == list(range(len(utterances)))
        assert all(utterances[a] != utterances[b] for a, b in zip(order, order[1:]))
        assert listening.page.trial_order(rater, utterances) == order
        orders[rater] = tuple(order)
    if len(utterances) > 4:
        assert len(set(orders.values())) > 1  # raters hear different orders


def test_trial_order_positions_are_balanced_over_raters():
    # over many raters every trial is about equally likely at the first position (uniform: 1/12 each)
    utterances = [f"u{u}" for u in range(3) for _ in range(4)]
    firsts = np.bincount([listening.page.trial_order(f"r{i}", utterances)[0] for i in range(3000)], minlength=12)
    assert firsts.min() > 3000 / 12 * 0.75 and firsts.max() < 3000 / 12 * 1.25


# ---------------------------------------------------------------- result files


def test_valid_file_is_accepted_and_ratings_kept(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD))
    res = listening.load_results(tmp_path)
    assert res.counts() == {"accepted": 1, "excluded": 0, "rejected": 0, "duplicate": 0, "raters": 1}
    assert len(res.ratings) == 8 and sorted(res.ratings["score"]) == [1, 1, 2, 3, 4, 5, 5, 5]
    assert res.page_versions == ["0123456789abcdef"]


def test_malformed_and_tampered_files_are_rejected_with_reason(tmp_path):
    dump(tmp_path, "broken.json", "{not json")
    other = make_result("rb", GOOD)
    other["schema_version"] = 2
    dump(tmp_path, "v2.json", other)
    tampered = make_result("rc", GOOD)
    tampered["ratings"][0]["score"] = 1  # edited after download
    dump(tmp_path, "tampered.json", tampered)
    out_of_scale = sign({**make_result("rd", GOOD)})
    out_of_scale["ratings"][1]["score"] = 6
    dump(tmp_path, "six.json", sign(out_of_scale))
    relabelled = make_result("re", GOOD)
    relabelled["ratings"][0]["model"] = "waveglow"  # model not covered by the checksum: checked against the condition
    dump(tmp_path, "relabelled.json", sign(relabelled))
    res = listening.load_results(tmp_path)
    reasons = dict(zip(res.sessions["file"].map(lambda f: f.rsplit("/", 1)[-1]), res.sessions["reason"]))
    assert set(res.sessions["status"]) == {"rejected"} and len(res.ratings) == 0
    assert "not valid JSON" in reasons["broken.json"]
    assert "schema_version 2" in reasons["v2.json"]
    assert "checksum does not match" in reasons["tampered.json"]
    assert "score 6" in reasons["six.json"]
    assert "do not match condition 'hifigan-small'" in reasons["relabelled.json"]


def test_duplicates_incomplete_and_screening_are_excluded_and_counted(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD))
    dump(tmp_path, "a2.json", make_result("ra", GOOD))  # the same file twice: counted once
    dump(tmp_path, "b1.json", make_result("rb", GOOD))
    dump(tmp_path, "b2.json", make_result("rb", {**GOOD, "anchor": [2, 1]}))  # one id, two different sessions
    dump(tmp_path, "c.json", make_result("rc", GOOD, complete=False))
    harsh = {"hifigan-small": [3, 3, 3, 3], "melgan-small": [2, 2, 2, 2], "ground_truth": [2, 5, 5, 5],
             "anchor": [1, 1, 1, 1]}
    dump(tmp_path, "d.json", make_result("rd", harsh))  # reference below 3 in 1 of 4 = 25 %: not more, kept
    dump(tmp_path, "e.json", make_result("re", {**harsh, "ground_truth": [2, 2, 5, 5]}))  # 50 %: excluded
    res = listening.load_results(tmp_path)
    status = dict(zip(res.sessions["file"].map(lambda f: f.rsplit("/", 1)[-1]), res.sessions["status"]))
    assert status == {"a.json": "accepted", "a2.json": "duplicate", "b1.json": "excluded", "b2.json": "excluded",
                      "c.json": "excluded", "d.json": "accepted", "e.json": "excluded"}
    assert res.counts() == {"accepted": 2, "excluded": 4, "rejected": 0, "duplicate": 1, "raters": 2}
    reasons = " | ".join(res.sessions["reason"])
    assert "appears in 2 different files" in reasons and "incomplete: 4 of 8" in reasons
    assert "below 3 in 2 of 4 trials" in reasons
    strict = listening.load_results(tmp_path / "d.json", screening=listening.ScreeningRule(max_fraction=0.2))
    assert strict.counts()["excluded"] == 1
    assert "more than 25%" in res.summary()


def test_mixing_page_versions_is_refused_unless_asked(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD, page_version="aaaaaaaaaaaaaaaa"))
    dump(tmp_path, "b.json", make_result("rb", GOOD, page_version="bbbbbbbbbbbbbbbb"))
    with pytest.raises(ValueError, match="2 page versions"):
        listening.load_results(tmp_path)
    assert listening.load_results(tmp_path, allow_mixed_versions=True).counts()["accepted"] == 2
    only_a = listening.load_results(tmp_path, expected_page_version="aaaaaaaaaaaaaaaa")
    assert only_a.counts()["accepted"] == 1 and only_a.counts()["rejected"] == 1


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        listening.load_results(tmp_path / "nope")


# ---------------------------------------------------------------- statistics


def test_t_interval_matches_hand_computation():
    low, high = listening.stats.t_interval([4, 5, 3, 4])
    half = 3.182446305284263 * math.sqrt(2 / 3) / 2  # t(0.975, 3) * s / sqrt(n)
    assert (low, high) == pytest.approx((4 - half, 4 + half), abs=1e-9)
    assert all(math.isnan(v) for v in listening.stats.t_interval([3]))


def test_bootstrap_resamples_raters():
    # two raters with means 2 and 4: resampled means are 2, 3 or 4 (p = 1/4, 1/2, 1/4) -> 95 % interval [2, 4]
    low, high = listening.stats.bootstrap_interval([2, 2, 4, 4], ["a", "a", "b", "b"], n_boot=4000, seed=3)
    assert (low, high) == (2.0, 4.0)
    assert listening.stats.bootstrap_interval([3, 4, 5], ["a", "a", "a"]) == (4.0, 4.0)  # one rater: no spread
    again = listening.stats.bootstrap_interval([1, 3, 4, 5, 2], list("abcde"), seed=7)
    assert again == listening.stats.bootstrap_interval([1, 3, 4, 5, 2], list("abcde"), seed=7)


def test_compute_mos_and_pareto_table(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD))
    dump(tmp_path, "b.json", make_result("rb", {"hifigan-small": [3, 4], "melgan-small": [1, 2],
                                                "ground_truth": [4, 5], "anchor": [1, 2]}))
    table = listening.compute_mos(listening.load_results(tmp_path)).set_index("condition")
    assert list(table.index) == ["hifigan-small", "melgan-small", "ground_truth", "anchor"]
    assert table.loc["hifigan-small", "mos"] == pytest.approx((4 + 5 + 3 + 4) / 4)
    assert table.loc["melgan-small", "mos"] == pytest.approx(2.0)
    assert table.loc["ground_truth", "n_ratings"] == 4 and table.loc["ground_truth", "n_raters"] == 2
    pareto = listening.listening_mos_table(tmp_path)
    assert list(pareto.columns) == ["model", "size", "mos", "ci_low", "ci_high", "n_ratings", "source"]
    assert list(zip(pareto["model"], pareto["size"])) == [("hifigan", "small"), ("melgan", "small")]
    assert set(pareto["source"]) == {"listening test"}
    boot = listening.listening_mos_table(tmp_path, ci="bootstrap")
    assert (boot["ci_low"] <= boot["mos"]).all() and (boot["mos"] <= boot["ci_high"]).all()
    with pytest.raises(ValueError, match="'t' or 'bootstrap'"):
        listening.listening_mos_table(tmp_path, ci="normal")


def test_no_result_files_means_no_ratings(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "absent"):
        table = listening.listening_mos_table(folder)
        assert table.empty and "source" in table.columns
    assert "No ratings yet" in results_markdown(tmp_path / "empty")


def test_results_markdown_reports_mos_and_counts(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD))
    dump(tmp_path, "x.json", "[]")
    text = results_markdown(tmp_path)
    assert "| hifigan-small | 4.50 |" in text and "1 file(s) rejected" in text


# ---------------------------------------------------------------- figures


def test_plot_mos_draws_one_bar_and_interval_per_condition(tmp_path):
    dump(tmp_path, "a.json", make_result("ra", GOOD))
    dump(tmp_path, "b.json", make_result("rb", GOOD))
    table = listening.compute_mos(listening.load_results(tmp_path))
    ax = listening.plot_mos(table)
    bars = [p for p in ax.patches if p.get_width() > 0]
    assert sorted(round(b.get_width(), 6) for b in bars) == sorted(table["mos"].round(6))
    assert "listening test" in ax.get_xlabel()
    with pytest.raises(ValueError, match="empty"):
        listening.plot_mos(table.iloc[:0])


def test_plot_metric_vs_mos_reports_correlations():
    data = pd.DataFrame({"am": [1.0, 2.0, 3.0, 4.0], "mos": [1.0, 3.0, 2.0, 4.0], "family": list("aabb")})
    ax, stats = listening.plot_metric_vs_mos(data, "am", hue="family")
    # hand: deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): r = 4 / 5; the ranks equal the values
    assert stats == {"pearson_r": pytest.approx(0.8), "spearman_rho": pytest.approx(0.8), "n": 4}
    assert "0.80" in ax.get_title() and len(ax.collections) >= 2  # points and the regression band
    with pytest.raises(ValueError, match="'fid'"):
        listening.plot_metric_vs_mos(data, "fid")


# ---------------------------------------------------------------- the book page (a small Sphinx project, not the book)


@pytest.mark.slow
def test_sphinx_extension_ships_the_app_and_the_results(tmp_path):
    """book/listening-test.md builds without warnings; the app lands in the HTML output; results fill the page."""
    import shutil
    from pathlib import Path

    from sphinx.application import Sphinx

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    shutil.copy2(root / "book" / "listening-test.md", src / "book" / "listening-test.md")
    (src / "index.md").write_text("# Home\n\n```{toctree}\nbook/listening-test\n```\n")
    samples = write_samples(tmp_path / "samples", 2)
    (src / "conf.py").write_text("extensions = ['myst_parser', 'greenaudio.listening.sphinx_ext']\n"
                                 f"listening_samples_dir = {str(samples)!r}\n"
                                 "listening_results_dir = 'ratings'\n")
    # results are checked against the page the build serves: a file of that page (the same samples give the same
    # page), and one of no page (fake stimuli), which is rejected
    served = json.loads((listening.build_test_page(samples, tmp_path / "served").out_dir / "manifest.json").read_text())
    dump(src / "ratings", "a.json", result_for_page(served, "ra", {c: GOOD[c][0] for c in GOOD}))
    dump(src / "ratings", "b.json", make_result("rb", GOOD))
    app = Sphinx(str(src), str(src), str(tmp_path / "html"), str(tmp_path / "doctrees"), "html", warningiserror=True,
                 status=None)
    app.build()
    page = (tmp_path / "html" / "book" / "listening-test.html").read_text()
    assert 'src="../listening-test-app/index.html"' in page
    assert "hifigan-small" in page and "No ratings yet" not in page
    assert "1 file(s) rejected" in page
    assert (tmp_path / "html" / "listening-test-app" / "trials.js").exists()
