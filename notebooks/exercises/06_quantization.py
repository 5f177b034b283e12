# %% [markdown]
# ## Exercises
#
# Each solution is folded under its exercise (click *Show code cell content*); it runs with the chapter every time
# the book is built, so it cannot drift from the library.
#
# ### Exercise 6.0.1: quantize your own model
#
# Build a small model of your own (here two linear layers over 80 mel bands) and quantize its weights to int8 by
# hand: per output channel, `scale = max|w| / 127` and `q = round(w / scale)` stored as `torch.int8`. Compare the
# serialised sizes (bytes written by `torch.save`) and the change of the output when the dequantized weights
# (`q x scale`) are used. What ratio would you expect from 32-bit to 8-bit weights, and why is the measured ratio a
# little lower? (The chapter's `greenaudio.quantization` does the same for the vocoder zoo with ONNX Runtime's static
# int8 quantization, activations included.)

# %% tags=["hide-cell"]
import io

import torch


def serialised_mb(tensors):
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.tell() / 1e6


def quantize_per_channel(weight):
    scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    return torch.clamp(torch.round(weight / scale), -127, 127).to(torch.int8), scale


torch.manual_seed(0)
my_model = torch.nn.Sequential(torch.nn.Linear(80, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512))
fp32 = {name: t.detach().clone() for name, t in my_model.state_dict().items()}
int8 = {}
for name, tensor in fp32.items():
    if name.endswith("weight"):
        int8[name], int8[name + "_scale"] = quantize_per_channel(tensor)
    else:
        int8[name] = tensor  # biases stay float32
fp32_mb, int8_mb = serialised_mb(fp32), serialised_mb(int8)
x = torch.randn(4, 80)
with torch.no_grad():
    reference = my_model(x)
    for index in (0, 2):
        layer = my_model[index]
        layer.weight.copy_(int8[f"{index}.weight"].float() * int8[f"{index}.weight_scale"])
    change = ((my_model(x) - reference).norm() / reference.norm()).item()
print(f"fp32 {fp32_mb:.3f} MB -> int8 {int8_mb:.3f} MB (ratio {fp32_mb / int8_mb:.2f}); "
      f"relative L2 change of the output: {change:.4f}")
assert 3.0 < fp32_mb / int8_mb < 4.0 and change < 0.05

# %% [markdown]
# ### Exercise 6.0.2: which of the thesis's models did not shrink?
#
# From the thesis's Table 9 (`published.load_quantization_sizes()`), compute the fp32/int8 size ratio of every
# configuration. Which ones stay far from the expected factor of about 4, and what does that suggest about what was
# (not) quantized?

# %% tags=["hide-cell"]
from greenaudio import published

sizes = published.load_quantization_sizes()
sizes = sizes.assign(ratio=(sizes.size_fp32_mb / sizes.size_int8_mb).round(2))
sizes[["printed_label", "size_fp32_mb", "size_int8_mb", "ratio"]].sort_values("ratio")

# %% [markdown]
# :::{admonition} Discussion
# :class: dropdown
# Weights stored in 8 bits instead of 32 divide the size by about 4; the scales, zero points and any layer left in
# float32 (biases, layers the quantizer skips) keep the measured ratio a little under 4. A ratio near 1 means the bulk
# of the model was not quantized at all — check which operators the quantizer supports before reading a size table.
# :::
