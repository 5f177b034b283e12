"""greenaudio: the library behind the executable edition of C. Douwes' thesis
*On the Environmental Impact of Deep Generative Models for Audio* (Sorbonne Université / IRCAM, 2023).

One module per concern, each importable on its own (importing ``greenaudio`` itself loads nothing heavy):

- :mod:`greenaudio.published` – the thesis's and papers' published numbers, as data files with their sources;
- :mod:`greenaudio.carbon` – hardware, grid-intensity and PUE catalogues; energy and carbon estimates;
- :mod:`greenaudio.pareto` – dominance, Pareto fronts and non-dominated sorting;
- :mod:`greenaudio.plotting` – figures (Pareto fronts, metric counts, ...);
- :mod:`greenaudio.report` – tables and figures for the book (numbered MyST tables, CSV/PNG/SVG files);
- :mod:`greenaudio.errata` – computed checks of the thesis's printed numbers against each other;
- :mod:`greenaudio.vocoders` – the six neural vocoders of Chapter 5 in three sizes each, behind one registry;
- :mod:`greenaudio.measure` – parameters, FLOPs, real-time factor and energy with provenance; a resumable store;
- :mod:`greenaudio.embedded` – can a configuration run on a microcontroller or a Raspberry Pi (§6.4)?;
- :mod:`greenaudio.data` – LJSpeech loader and offline speech / spoken-digit corpora synthesised with espeak-ng;
- :mod:`greenaudio.training` – one resumable trainer for the six families, with energy prediction;
- :mod:`greenaudio.metrics` – D_STFT, PESQ, STOI, DNSMOS, DistillMOS, IS / AM / Fréchet distance.
"""

__version__ = "0.1.0"
