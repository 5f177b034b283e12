# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 5.1.1: measure your own vocoder, and read what its FLOPs count
#
# Wrap any function from a mel spectrogram `(batch, 80, frames)` to audio `(batch, frames x 256)` and measure it
# with `measure.benchmark_model(..., protocol=measure.QUICK_PROTOCOL)`. Read the record's `gflops_per_audio_s`,
# `rtf_median`, `e_gen_j_per_100_audio_s` and `energy_method`. Why can a vocoder that clearly computes something
# report 0 GFLOPs?

# %% tags=["hide-cell"]
import torch

from greenaudio import measure


def my_vocoder(mel):
    return torch.tanh(torch.nn.functional.interpolate(mel.mean(1, keepdim=True), scale_factor=256)).squeeze(1)


mine = measure.benchmark_model(my_vocoder, name="my-vocoder", hop_length=256, sample_rate=16000,
                               protocol=measure.QUICK_PROTOCOL)
print(f"GFLOPs per s of audio: {mine.gflops_per_audio_s}; RTF: {mine.rtf_median:.4f}; "
      f"E_gen: {mine.e_gen_j_per_100_audio_s:.2f} J per 100 s of audio ({mine.energy_method})")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# The FLOP counter counts the multiply-accumulates of matrix products and convolutions (the layers that dominate a
# neural vocoder); element-wise operations (the mean, the interpolation, `tanh`) are not counted, so this toy
# reports 0 GFLOPs while still taking time and energy. The energy method says how the joules were obtained: a
# measurement from hardware counters, or an estimate from a power model — never confuse the two.
# :::
#
# ### Exercise 5.1.2: put your vocoder on the thesis's quality–energy plane
#
# Suppose your own trained vocoder has 0.5 M parameters and reached a MOS of 3.5. Add it to the thesis's 18 configurations (MOS from Table 7,
# `published.load_vocoder_quality()`; parameters from Table 8, `published.load_vocoder_costs()`) on the plane
# (parameters: min, MOS: max). Is it on the front? Which configurations are dominated?

# %% tags=["hide-cell"]
import pandas as pd

from greenaudio import pareto, published

zoo = published.load_vocoder_costs().merge(published.load_vocoder_quality(), on=["model", "size"])
zoo = zoo.assign(name=zoo.model + "-" + zoo["size"])[["name", "params_millions", "mos"]]
plane = pd.concat([zoo, pd.DataFrame({"name": ["my-vocoder"], "params_millions": [0.5], "mos": [3.5]})],
                  ignore_index=True)
front = pareto.compute_pareto_table(plane, {"params_millions": "min", "mos": "max"}, label="name")
print("on the front:", ", ".join(front.name[front.pareto_optimal]))
print("dominated:", len(front) - int(front.pareto_optimal.sum()), "of", len(front))
