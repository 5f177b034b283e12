# %% [markdown]
# # Environment: what the book runs on, and why
#
# Every page of this book is executed when the book is built, on the machine that builds it. This page records that
# machine's software, and checks numerically the one place where the book departs from the thesis's stack.
#
# ## What this page shows
#
# - This page was built with Python {glue:text}`python_version` and PyTorch {glue:text}`torch_version` on
#   {glue:text}`system` ({glue:text}`cpu_threads` CPU threads for PyTorch; CUDA available: {glue:text}`cuda`).
# - torchaudio: {glue:text}`torchaudio_status`.
# - The book's mel front-end agrees with librosa's to {glue:text}`mel_max_difference:.1e` at most, on log-mel values
#   up to {glue:text}`mel_max_value:.2f` — float32 against float64 rounding.
#
# ## Why this stack
#
# - **CPU first.** The main job (`scripts/main.sh`) runs in quick mode on a 2-core laptop or a CI runner: the
#   Chapter 4 notebooks only compute from published data, and Chapter 5 runs its protocols with small budgets. The
#   thesis's full protocol (18 trainings of 120 h) needs a GPU: `scripts/main.sh --full --device cuda`.
# - **PyTorch pinned** (`requirements/ci.txt`, `torch==2.13.0`; on the build machine the CPU build from a local wheel
#   folder) so that energy and time measurements are comparable from build to build. The package's own requirement
#   is loose (`torch>=2.1`) so that Colab keeps its preinstalled PyTorch.
# - **No torchaudio.** The thesis's design names torchaudio for the mel spectrogram, but no torchaudio release on PyPI
#   (up to 2.11) imports with the pinned PyTorch. The mel front-end of the vocoders
#   (`greenaudio.vocoders.mel.MelFrontEnd`) is therefore built from `torch.stft` and librosa's Slaney mel filters;
#   below, it is compared numerically with librosa's own `librosa.feature.melspectrogram`.
# - **Jupyter Book 1.x** (Sphinx) builds the HTML fully offline, and the book serves its own MathJax (from
#   `book/_static/mathjax`, MathJax 3.2.2, Apache-2.0), so the pages read the same with or without internet.
# - **papermill** executes every notebook with its `parameters` cell (`QUICK`, `DEVICE`) before the book is built.

COLAB

# %% tags=["parameters"]
QUICK = True
SEED = 0
DURATION_S = 2.0

# %% [markdown]
# ## Versions of the key packages
#
# Read from the environment that built this page (the `greenaudio.measure` records carry the same information beside
# every measured number).

# %%
import importlib.metadata
import platform

import numpy as np
import pandas as pd
import torch

from greenaudio import report

CHAPTER = "environment"
packages = ["greenaudio", "torch", "numpy", "scipy", "pandas", "matplotlib", "librosa", "soundfile", "pesq", "pystoi",
            "distillmos", "speechmos", "onnxruntime", "carbontracker", "pyJoules", "nvidia-ml-py", "papermill",
            "jupyter-book", "sphinx", "myst-nb", "sphinx-book-theme", "torchaudio"]


def installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


try:
    import torchaudio  # noqa: F401

    torchaudio_status = f"version {torchaudio.__version__} imports with this PyTorch"
except Exception as error:  # ImportError, or an OSError from a binary built for another torch
    torchaudio_status = f"does not import here ({type(error).__name__})"

report.glue(python_version=platform.python_version(), torch_version=torch.__version__,
            system=f"{platform.system()} {platform.release()} ({platform.machine()})",
            cpu_threads=torch.get_num_threads(), cuda="yes" if torch.cuda.is_available() else "no",
            torchaudio_status=torchaudio_status)
versions = pd.DataFrame({"package": ["python"] + packages,
                         "version": [platform.python_version()] + [installed(p) for p in packages]})
report.show_table(versions, label="package-versions", chapter=CHAPTER, columns={"package": "Package"},
                  caption="Versions of the packages the book uses, in the environment that built this page.")

# %% [markdown]
# ## The mel front-end agrees with librosa
#
# The same signal (a seeded chirp plus noise, 16 kHz) goes through `MelFrontEnd` (`torch.stft`, Hann window,
# `n_fft` 2048, hop 256, 80 Slaney mel bands up to 8 kHz, power 2, $\log(1 + \cdot)$) and through
# `librosa.feature.melspectrogram` with the same settings (reflect padding, as `torch.stft`), followed by the same
# $\log(1 + \cdot)$. The largest difference is {glue:text}`mel_max_difference:.1e`, on values up to
# {glue:text}`mel_max_value:.2f`: the rounding of float32 (PyTorch) against float64 (librosa).

# %%
import librosa

from greenaudio.vocoders.mel import THESIS_MEL, MelFrontEnd

rng = np.random.default_rng(SEED)
sr = THESIS_MEL.sample_rate
t = np.arange(int(DURATION_S * sr)) / sr
signal = (0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)

ours = MelFrontEnd(THESIS_MEL)(torch.from_numpy(signal)).squeeze(0).double().numpy()
reference = np.log1p(librosa.feature.melspectrogram(
    y=signal.astype(np.float64), sr=sr, n_fft=THESIS_MEL.n_fft, hop_length=THESIS_MEL.hop_length,
    win_length=THESIS_MEL.win_length, window="hann", center=True, pad_mode="reflect", power=THESIS_MEL.power,
    n_mels=THESIS_MEL.n_mels, fmin=THESIS_MEL.f_min, fmax=THESIS_MEL.f_max, htk=False, norm="slaney",
))[:, : ours.shape[1]]
difference = np.abs(ours - reference)
assert ours.shape == reference.shape and difference.max() < 1e-3
report.glue(mel_max_difference=float(difference.max()), mel_max_value=float(np.abs(reference).max()))
agreement = pd.DataFrame({
    "quantity": ["frames compared", "mel bands", "largest log-mel value (librosa)", "largest absolute difference",
                 "mean absolute difference"],
    "value": [ours.shape[1], ours.shape[0], float(np.abs(reference).max()), float(difference.max()),
              float(difference.mean())],
})
report.show_table(agreement, label="mel-agreement", chapter=CHAPTER, columns={"value": "Value"},
                  formats={"value": lambda v: f"{v:.3g}"},
                  caption="The book's mel front-end against librosa on the same signal.")
