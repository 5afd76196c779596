"""ucfdvs: spiking neural networks from PyTorch training to Loihi-style (Lava) execution.

One import name, layered packages; each may import only the ones listed before it:

- ``ucfdvs`` core (this folder): version, :class:`ucfdvs.errors.UserError`, atomic writes
  (:mod:`ucfdvs.atomic`), the time base (:mod:`ucfdvs.timebase`), event arrays and event-file I/O
  (:mod:`ucfdvs.events`);
- ``ucfdvs.neuro_runtime``: any NIR graph in a NumPy emulator and in Lava (numpy, nir, Lava; core only);
- ``ucfdvs.train``: UCF-Crime-DVS data, synthetic data, MSF, training, evaluation (torch, SpikingJelly);
- ``ucfdvs.export``: streaming MSF, NIR/ONNX export, the MSF application of the runtime (``simulate``);
- ``ucfdvs.benchmarks``: benchmark scripts and the ``bench`` suite;
- ``ucfdvs.cli``: the ``ucfdvs`` console script on top.

Importing ``ucfdvs`` imports nothing heavy.
"""

__version__ = "0.2.0"
