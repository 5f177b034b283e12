"""int8 quantisation that runs: ONNX Runtime static QDQ for the vocoder zoo, and quantisation-aware training.

Used by: notebooks/06_quantization.ipynb (thesis §6.3–6.4, Tables 9–10, Figures 36–38),
scripts/bench_quantization.py.

Built on the vocoders' own graphs (:mod:`greenaudio.vocoders.graphs`: each family split into exportable networks and
its Python loop; :mod:`greenaudio.vocoders.onnx`: fp32 ONNX export and the ONNX Runtime runner, fp32 or int8), this
package adds, by concern:

- :mod:`~greenaudio.quantization.calibrate` – calibration on real mels, ``quantize_static`` (QDQ, per-channel int8),
  and the ``"int8"`` backend of ``Vocoder.prepare_for_inference``, registered when this package is imported;
- :mod:`~greenaudio.quantization.sizes` – sizes measured from the serialised files;
- :mod:`~greenaudio.quantization.compare` – output change (relative L2, SNR, D_STFT);
- :mod:`~greenaudio.quantization.pipeline` – one configuration or a table of them, failed rows kept;
- :mod:`~greenaudio.quantization.qat` – fake-quant training beside an fp32 twin, stability, conversion to int8;
- :mod:`~greenaudio.quantization.shipped` – shipped int8 measurements and QAT histories, sha256-verified;
- :mod:`~greenaudio.quantization.profile` – kernel time per ONNX Runtime operator, fp32 against int8.

>>> from greenaudio import quantization, vocoders
>>> q = quantization.quantize_vocoder(vocoders.load("hifigan", "small"), "work/hifigan", calibration_mels)
>>> audio = q.runner("int8").generate(mel).audio
>>> model = vocoders.load("hifigan", "small").prepare_for_inference("int8")  # needs this package imported
"""

from greenaudio.vocoders.base import register_backend

from .calibrate import check_int8_calibration, int8_runner, quantize_graph
from .compare import compute_output_change
from .pipeline import TABLE_COLUMNS, find_trained_weights, make_eval_clip, quantize_vocoder, run_quantization_table
from .sizes import measure_files_bytes
from .shipped import load_shipped_ptq, load_shipped_qat, ptq_provenance, qat_provenance

register_backend("int8", int8_runner, check=check_int8_calibration)

__all__ = [
    "quantize_graph",
    "compute_output_change",
    "TABLE_COLUMNS",
    "find_trained_weights",
    "make_eval_clip",
    "quantize_vocoder",
    "run_quantization_table",
    "measure_files_bytes",
    "load_shipped_ptq",
    "ptq_provenance",
    "load_shipped_qat",
    "qat_provenance",
]
