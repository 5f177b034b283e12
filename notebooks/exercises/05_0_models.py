# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 5.0.1: count the parameters yourself
#
# Load the small MelGAN of the zoo (`vocoders.load("melgan", "small")`), count its parameters with plain PyTorch
# (`sum(p.numel() for p in model.parameters())`) and compare with the thesis's Table 8 (`published.load_vocoder_costs()`,
# column `params_millions`). Why might a count differ from a printed one by a few percent?

# %% tags=["hide-cell"]
from greenaudio import published, vocoders

small_melgan = vocoders.load("melgan", "small")
counted = sum(p.numel() for p in small_melgan.parameters())
printed = published.load_vocoder_costs().set_index(["model", "size"]).loc[("melgan", "small"), "params_millions"]
print(f"counted: {counted / 1e6:.2f} M parameters; thesis Table 8: {printed} M")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# Weight normalisation stores each weight as a direction and a gain: whether the gains are counted (and whether they
# are folded away for inference) changes the count slightly; so do rounding and unreported layers. A printed
# parameter count without its counting rule is a number that cannot be checked exactly.
# :::
#
# ### Exercise 5.0.2: how much audio does a mel spectrogram make?
#
# Generate audio from a random mel spectrogram of 32 frames with the small MelGAN and check the number of samples
# against the hop length (`small_melgan.config.hop_length`). How many seconds of audio is it at the model's sample
# rate?

# %% tags=["hide-cell"]
import torch

config = small_melgan.config
with torch.no_grad():
    audio = small_melgan.generate(torch.randn(1, config.n_mels, 32)).audio
print(f"{audio.shape[-1]} samples = 32 frames x hop {config.hop_length}; "
      f"{audio.shape[-1] / config.sample_rate:.3f} s at {config.sample_rate} Hz")
assert audio.shape[-1] == 32 * config.hop_length
