"""Run a lava-dl netx HDF5 network (a feed-forward chain of conv/dense layers) in Lava's Loihi 2 simulator.

``run_netx`` sends binary frames (``[C, H, W]`` for conv networks, ``[C]`` for dense ones) back to back through ``lava.lib.dl.netx.hdf5.Network`` in bit-accurate
fixed point (``Loihi2SimCfg(select_tag='fixed_pt')``), resetting every layer's state every ``interval`` steps
with netx's own per-layer offsets (``reset_offset=1``: a frame reaches the first layer one step after it is
sent), and records each layer's spikes with a ring-buffer sink. The frame sent at step t of a window reaches
layer k at step t + k + 1.  Lava runs in a worker process of its own (:mod:`neuro_runtime.lava_worker`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ucfdvs.neuro_runtime.lava_build import import_lava
from ucfdvs.neuro_runtime.lava_worker import call_in_worker


def run_netx(path: str | Path, snippets: np.ndarray, interval: int = 16) -> list[np.ndarray]:
    """Run binary snippets [n, T, *frame] (frame [C, H, W] or [C]) through the netx network; per layer spikes
    [n, interval, *layer shape] uint8 (layer shape [C, H, W] or [C]).

    Entry [i, s] is Lava step i * interval + s + 1 (Lava counts from 1); input frame t is sent at step s = t.
    """
    steps = snippets.shape[1]
    if steps > interval:
        raise ValueError(f"interval {interval} is shorter than the {steps} input frames")
    return call_in_worker("ucfdvs.neuro_runtime.netx_run:run_here", path=str(path), snippets=snippets,
                          interval=interval)


def run_here(emit: Callable[[Any], None], path: str, snippets: np.ndarray, interval: int) -> list[np.ndarray]:
    """:func:`run_netx` in this process (the worker; lava-dl's import prints banners: silenced here)."""
    import_lava()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    n, steps, *frame = snippets.shape  # netx orders axes the other way round: (W, H, C), time last
    net = netx.hdf5.Network(net_config=str(path), input_shape=tuple(frame[::-1]), reset_interval=interval,
                            reset_offset=1)
    total = n * interval
    data = np.zeros((*frame[::-1], total), dtype=np.float64)
    for i in range(n):
        data[..., i * interval:i * interval + steps] = snippets[i].transpose()
    source = Source(data=data)
    source.s_out.connect(net.inp)
    sinks = []
    for layer in net.layers:
        sink = Sink(shape=layer.out.shape, buffer=total)
        layer.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        recorded = [sink.data.get() for sink in sinks]
    finally:
        net.stop()
    out = []
    for spikes in recorded:
        shape = spikes.shape[:-1]
        k = len(shape)
        axes = (k, k + 1) + tuple(range(k - 1, -1, -1))
        out.append((spikes.reshape(*shape, n, interval).transpose(axes) != 0).astype(np.uint8))
    return out
