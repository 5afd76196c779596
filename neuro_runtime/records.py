"""Per-sequence (or per-batch) results of a run: outputs, activity, synaptic events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunRecord:
    """What one run recorded.  Arrays are ``[T, N]`` for one sequence or ``[B, T, N]`` for a batch.

    * ``outputs[name]``: value arriving at each Output node per step (float64).
    * ``activity[name]``: per neuron node and step: spikes (0/1) for spiking nodes, the graded
      output ``v`` for LI nodes (float64; in fixed point the de-quantised message).
    * ``synaptic_events[projection]``: ``[T]`` (or ``[B, T]``) number of synaptic events per
      step and synapse layer (``src->dst``): for every sender with a non-zero message, the number
      of non-zero weights in its column, counted at the step the message is sent.
    """

    precision: str
    outputs: dict[str, np.ndarray]
    activity: dict[str, np.ndarray]
    synaptic_events: dict[str, np.ndarray]
    spiking: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def spikes(self) -> dict[str, np.ndarray]:
        """Spikes per spiking neuron node: ``[..., T, N]`` uint8."""
        return {k: v.astype(np.uint8) for k, v in self.activity.items() if k in self.spiking}

    @property
    def batched(self) -> bool:
        return any(v.ndim == 3 for v in self.outputs.values())

    def split(self) -> list["RunRecord"]:
        """A batched record as one record per sequence (``[T, N]`` arrays)."""
        if not self.batched:
            return [self]
        b = next(iter(self.outputs.values())).shape[0]
        return [
            RunRecord(
                self.precision,
                {k: v[i] for k, v in self.outputs.items()},
                {k: v[i] for k, v in self.activity.items()},
                {k: v[i] for k, v in self.synaptic_events.items()},
                self.spiking,
                dict(self.meta),
            )
            for i in range(b)
        ]


def synapse_fan_out(graph) -> dict[str, np.ndarray]:
    """Per projection ``src->dst`` with synapses: non-zero weights per source channel ``[N_src]``
    (direct, zero-delay connections are wires, not synapses, and are not counted)."""
    out: dict[str, np.ndarray] = {}
    for p in graph.projections:
        nnz = np.zeros(graph.size(p.src), dtype=np.int64)
        for t in p.terms:
            if t.delay > 0:
                nnz += np.count_nonzero(t.matrix, axis=0)
        if nnz.any():
            out[p.name] = nnz
    return out


def count_synaptic_events(graph, msgs: dict[str, np.ndarray],
                          fan_out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Synaptic events per projection from the messages each source sent (``[..., T, N_src]``):
    ``sum_k [m_k != 0] fan_out_k`` (``fan_out``: :func:`synapse_fan_out`, computed when not given)."""
    if fan_out is None:
        fan_out = synapse_fan_out(graph)
    out: dict[str, np.ndarray] = {}
    for p in graph.projections:
        if p.name in fan_out:
            # float64 BLAS is exact here: integer sums far below 2**53
            out[p.name] = ((msgs[p.src] != 0) @ fan_out[p.name].astype(np.float64)).astype(np.int64)
    return out
