"""Shared fixtures (the main job run once per test session: notebooks executed in quick mode, book built) and tiers.

The main job (execute every notebook, build the book) runs once per session (``built_book``); the chapter tests
read its results and the browser test its HTML.

Tiers: ``pytest -m "not slow and not notebooks"`` is the everyday loop (about two minutes on a 2-core machine);
``pytest`` runs everything. Every test that uses the ``executed_notebooks`` fixture is marked ``notebooks`` here;
the tests in ``SLOW_TESTS`` (measured with ``pytest --durations=30`` on each file: each takes more than about 10 s
on the 2-core development machine) are marked ``slow``, in addition to those decorated ``@pytest.mark.slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


#: Tiny versions of the six families (narrow, shallow): a test builds them in seconds, not minutes.
TINY_CONFIGS = {
    "melgan": {"ngf": 4, "n_residual_layers": 1},
    "hifigan": {"upsample_initial_channel": 16, "resblock_kernel_sizes": (3,), "resblock_dilation_sizes": ((1, 3),)},
    "wavegrad": {"upsample_preconv_channels": 8, "upsample_channels": (8, 8, 8, 4, 4), "downsample_preconv_channels": 4,
                 "downsample_channels": (4, 4, 8, 8)},
    "diffwave": {"residual_channels": 4, "residual_layers": 2},
    "waveflow": {"res_channels": 4, "n_layers": 2, "n_flows": 2},
    "waveglow": {"wn_channels": 4, "wn_layers": 2, "upsample_kernel": 512},
}


def perturbed_pair(name: str, size: str, seed: int = 0, **fields):
    """A plain model of a preset (``fields`` override its config) with every weight perturbed (zero-initialised
    output layers would hide errors), in eval mode, and a second model holding the same weights (to be prepared)."""
    import torch

    from greenaudio import vocoders

    torch.manual_seed(seed)
    plain = vocoders.load(name, size, **fields)
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.01 * torch.randn_like(p))
    plain.eval()
    prepared = vocoders.build(plain.config)
    prepared.load_state_dict(plain.state_dict())
    return plain, prepared


def random_mel(frames: int, batch: int = 1, seed: int = 1):
    """A seeded uniform mel of shape (batch, 80, frames)."""
    import torch

    return torch.rand(batch, 80, frames, generator=torch.Generator().manual_seed(seed))


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [ROOT / f"{c['file']}.ipynb" for part in toc["parts"] for c in part["chapters"]
            if c["file"].startswith("notebooks/")]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The main job run once per test session: every chapter notebook executed with papermill in quick mode, then
    the book built (scripts/build_book.py --build-dir). Returns the build folder: ``html/`` (the rendered book) and
    ``src/results/`` (the tables and figures the notebooks wrote). Tests of chapter outputs and the browser test
    share it, so no notebook is executed twice."""
    import subprocess
    import sys

    work = tmp_path_factory.mktemp("book")
    build = work / "_build"
    # Hermetic: results and caches (corpora, classifier, training runs) in the session's temporary folder, so a
    # test run never reuses what an earlier run of older code left in ~/.cache.
    env = {**os.environ, "GREENAUDIO_CACHE": str(work / "cache")}
    env.pop("GREENAUDIO_RESULTS_DIR", None)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--build-dir", str(build)], check=True,
                   cwd=ROOT, env=env)
    return build


@pytest.fixture(scope="session")
def executed_notebooks(request) -> Path:
    """The results folder written by every chapter notebook executed in quick mode (by :func:`built_book`)."""
    reuse = os.environ.get("GREENAUDIO_EXECUTED_RESULTS")
    if reuse:  # results of a book build that just executed every notebook (scripts/build_book.py), checked as is
        return Path(reuse)
    return request.getfixturevalue("built_book") / "src" / "results"


#: Node ids (``file::test``, parametrised variants included) of tests slower than about 10 s each on the 2-core
#: development machine, in files whose other tests are fast. Measured with ``pytest --durations=30 tests/<file>``.
SLOW_TESTS: tuple[str, ...] = (
    "test_data_espeak.py::test_speech_corpus_interface",
    "test_data_espeak.py::test_digit_corpus",
    "test_evaluation.py::test_evaluate_vocoder_ground_truth_and_a_model",
    "test_evaluation.py::test_validation_metrics_identity_and_failures",
    "test_measure_energy.py::test_cpu_estimate_works_without_pyjoules",
    "test_measure_bench.py::test_bring_your_own_module",
    "test_listening.py::test_build_test_page_writes_complete_trial_set",
    "test_vocoders_flows.py::test_output_length[64-waveflow]",
    "test_vocoders_flows.py::test_output_length[64-waveglow]",
    "test_vocoders_flows.py::test_seeded_generation_is_deterministic[waveglow]",
    "test_vocoders_flows.py::test_parameter_counts_exact[waveglow-large]",
    "test_vocoders_flows.py::test_parameter_counts_exact[waveflow-wf5]",
    "test_vocoders_diffusion.py::test_prepare_for_inference_keeps_output",
    "test_vocoders_diffusion.py::test_output_length[64-diffwave]",
    "test_vocoders_common.py::test_parameter_counts_match_the_facts_for_all_18",
    "test_vocoders_common.py::test_convention_match_reports_the_thesis_conventions",
    "test_training_resume.py::test_sigkill_then_resume_matches_uninterrupted_run",
    "test_measure_store.py::test_grid_survives_sigkill_and_resumes_only_missing_cells",
    # measured 2026-11-26 with `pytest --durations=30` (5-12 s each on a loaded 2-core machine)
    "test_vocoders_prepared.py::test_onnxruntime_backend_equals_plain",
    "test_vocoders_prepared.py::test_prepared_torch_equals_plain_for_all_18[waveflow-medium]",
    "test_vocoders_prepared.py::test_prepared_torch_equals_plain_for_all_18[waveflow-large]",
    "test_vocoders_prepared.py::test_prepared_torch_equals_plain_for_all_18[waveglow-small]",
    "test_vocoders_gan.py::test_one_training_step[hifigan-8-terms1]",
    "test_vocoders_flows.py::test_waveflow_fast_equals_plain",
    "test_vocoders_flows.py::test_seeded_generation_is_deterministic[waveflow]",
    "test_chapters_waveflow.py::test_training_flops_extrapolated_from_one_and_two_flows_equal_the_direct_count",
    "test_chapters_zoo.py::test_gan_warm_up_leaves_the_discriminator_untouched_until_its_start_step",
    # measured 2026-11-26 (second session; 5-11 s each on a loaded 2-core machine): WaveFlow and WaveGrad variants
    # of interface tests whose other families stay in the fast tier, and single heavy set-ups
    "test_vocoders_common.py::test_uniform_interface[waveflow]",
    "test_vocoders_common.py::test_mel_dtypes_and_numpy_are_cast_to_the_model_dtype[waveflow]",
    "test_vocoders_diffusion.py::test_output_length[64-wavegrad]",
    "test_vocoders_prepared.py::test_waveflow_prepared_conditioning_is_row_by_row",
    "test_vocoders_prepared.py::test_prepared_equals_plain_for_other_procedures[waveflow-procedure5]",
    "test_chapters_waveflow.py::test_real_training_steps_are_timed",
    "test_chapters_waveflow.py::test_cpu_generation_energy_is_labelled_estimated",
    "test_orchestration_export.py::test_export_writes_a_manifest_whose_hashes_match_the_files",
    "test_data_espeak.py::test_a_corrupt_digit_cache_names_the_file",
    "test_vocoders_prepared.py::test_prepared_equals_plain_for_other_procedures[wavegrad-procedure1]",
    "test_vocoders_prepared.py::test_prepared_equals_plain_for_other_procedures[diffwave-procedure0]",
    "test_vocoders_prepared.py::test_prepared_torch_equals_plain_for_all_18[waveflow-small]",
    "test_vocoders_gan.py::test_one_training_step[melgan-32-terms0]",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"executed_notebooks", "built_book"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.notebooks)
        node = item.nodeid.split("/")[-1]
        base = node.split("[")[0]
        if node in SLOW_TESTS or base in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
