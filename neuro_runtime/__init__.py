"""Run NIR graphs of our primitive set in Lava (Loihi 2 simulator) and in a NumPy emulator.

The contract is in :mod:`neuro_runtime.semantics`.  Public API::

    load_graph(path_or_nir_graph, align=False) -> RuntimeGraph      # validate + lower; .report()
    quantize(graph, input_range=1.0, input_bits=12, strict=False, align_exponents=True) -> QuantizedGraph   # .report()
    Emulator(graph, precision="floating_pt", quant=None).run(x[B, T, C_in]) -> RunRecord
    run_lava(graph, sequences, precision="floating_pt", quant=None, fuse=True, progress=True,
             on_sequence=None, timings=None, io="shm") -> list[RunRecord]   # one per sequence
    build_lava(graph, precision, quant=None, fuse=True, buf_len=1, io="shm") -> LavaNetwork

``RunRecord``: ``outputs[name]``, ``activity[name]`` / ``spikes[name]``, ``synaptic_events[layer]``
(``[T, N]`` per sequence, ``[B, T, N]`` batched; ``.split()``).  Example graphs:
:mod:`neuro_runtime.examples`.

Importing this package does not import Lava.  ``run_lava`` runs Lava in a worker process of its
own (:mod:`neuro_runtime.lava_worker`: the caller's start method, streams and children stay as they
are); ``build_lava`` imports Lava in this process (it builds processes, nothing runs).
"""

from __future__ import annotations

from typing import Any

from ucfdvs.neuro_runtime.emulator import Emulator
from ucfdvs.neuro_runtime.graph_check import RuntimeGraph, load_graph
from ucfdvs.neuro_runtime.quantize import QuantizationWarning, QuantizedGraph, quantize
from ucfdvs.neuro_runtime.records import RunRecord

__all__ = [
    "Emulator", "RuntimeGraph", "load_graph", "QuantizationWarning", "QuantizedGraph", "quantize",
    "RunRecord", "run_lava", "build_lava",
]


def run_lava(*args: Any, **kwargs: Any) -> list[RunRecord]:
    """See :func:`neuro_runtime.lava_run.run_lava` (imports Lava)."""
    from ucfdvs.neuro_runtime.lava_run import run_lava as _run

    return _run(*args, **kwargs)


def build_lava(*args: Any, **kwargs: Any) -> Any:
    """See :func:`neuro_runtime.lava_build.build_lava` (imports Lava)."""
    from ucfdvs.neuro_runtime.lava_build import build_lava as _build

    return _build(*args, **kwargs)
