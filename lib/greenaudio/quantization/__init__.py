"""int8 quantisation that runs: ONNX Runtime static QDQ for the vocoder zoo, and quantisation-aware training.

Used by: notebooks/06_quantization.ipynb (thesis §6.3–6.4, Tables 9–10, Figures 36–38),
scripts/bench_quantization.py.

Modules, by concern:

- :mod:`~greenaudio.quantization.graphs` – each vocoder split into exportable networks and its Python loop;
- :mod:`~greenaudio.quantization.export` – ``torch.onnx`` export (weight norm removed first);
- :mod:`~greenaudio.quantization.calibrate` – calibration on real mels, ``quantize_static`` (QDQ, per-channel int8);
- :mod:`~greenaudio.quantization.runner` – :class:`OnnxVocoder`, the ``generate(mel)`` interface over ONNX Runtime;
- :mod:`~greenaudio.quantization.sizes` – sizes measured from the serialised files;
- :mod:`~greenaudio.quantization.compare` – output change (relative L2, SNR, D_STFT);
- :mod:`~greenaudio.quantization.pipeline` – one configuration or a table of them, failed rows kept;
- :mod:`~greenaudio.quantization.tables` – Table 9 beside the thesis's, Table 10 from measured sizes;
- :mod:`~greenaudio.quantization.qat` – fake-quant training beside an fp32 twin, stability, conversion to int8;
- :mod:`~greenaudio.quantization.shipped` – shipped int8 measurements and QAT histories, sha256-verified;
- :mod:`~greenaudio.quantization.profile` – kernel time per ONNX Runtime operator, fp32 against int8.

>>> from greenaudio import quantization, vocoders
>>> q = quantization.quantize_vocoder(vocoders.load("hifigan", "small"), "work/hifigan", calibration_mels)
>>> audio = q.runner("int8").generate(mel).audio
"""

from .calibrate import QUANTIZATION_SETTINGS, check_calibration_mels, quantize_graph, record_graph_inputs
from .compare import compute_output_change
from .export import EXPORTERS, ExportedGraph, export_graph, graph_files
from .graphs import SUPPORTED_MODELS, GraphSpec, VocoderGraphs, describe_splits, split_vocoder
from .pipeline import (
    TABLE_COLUMNS,
    QuantizedVocoder,
    find_trained_weights,
    make_eval_clip,
    measure_configuration,
    quantize_vocoder,
    run_quantization_table,
)
from .runner import OnnxVocoder, make_session
from .sizes import BYTES_PER_MB, SIZE_METHOD, measure_files_bytes
from .shipped import (load_shipped_ptq, load_shipped_qat, ptq_provenance, qat_provenance, ship_ptq_results,
                      ship_qat_history)
from .tables import (RTF_ESTIMATE_METHOD, TABLE9_FORMATS, TABLE10_FIT_COLUMNS, compute_bench_table, compute_table9,
                     compute_table10)

__all__ = [
    "QUANTIZATION_SETTINGS",
    "check_calibration_mels",
    "quantize_graph",
    "record_graph_inputs",
    "compute_output_change",
    "EXPORTERS",
    "ExportedGraph",
    "export_graph",
    "graph_files",
    "SUPPORTED_MODELS",
    "GraphSpec",
    "VocoderGraphs",
    "split_vocoder",
    "describe_splits",
    "TABLE_COLUMNS",
    "QuantizedVocoder",
    "find_trained_weights",
    "make_eval_clip",
    "measure_configuration",
    "quantize_vocoder",
    "run_quantization_table",
    "OnnxVocoder",
    "make_session",
    "BYTES_PER_MB",
    "SIZE_METHOD",
    "measure_files_bytes",
    "RTF_ESTIMATE_METHOD",
    "compute_bench_table",
    "compute_table9",
    "TABLE9_FORMATS",
    "TABLE10_FIT_COLUMNS",
    "load_shipped_ptq",
    "ship_ptq_results",
    "ptq_provenance",
    "load_shipped_qat",
    "ship_qat_history",
    "qat_provenance",
    "compute_table10",
]
