"""The accounting of ``ucfdvs bench`` for any graph: one run of a :class:`neuro_runtime.Network`
-> ``report.json`` (schema ``ucfdvs-run/1``).

Every number is a figure ``{value, unit, origin[, source]}`` (:func:`report.fig`; origins as in
``ucfdvs bench``).  Per run: latency per Output (steps and seconds; the offset from the source
framework's timing is one step per synapse hop), per-layer spikes, firing rate, synaptic operations
(spike x non-zero fan-out), graded operations, neuron updates (:func:`ops.count_graph`), Loihi 2
resources (:func:`resources.loihi2_resources`), the Loihi energy estimate (dynamic; with static
power over the real-time duration ``steps x dt``) and the same graph on a GPU/CPU at batch 1 and
at the offline batch (:mod:`energy`), NeuroBench's metrics under NeuroBench's names
(:mod:`neurobench_metrics`), and in fixed point the quantisation report with the per-layer spike
agreement against the emulator in float on the same input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ucfdvs.benchmarks.suite.constants import Constants
from ucfdvs.benchmarks.suite.energy import loihi_energy, von_neumann_energy
from ucfdvs.benchmarks.suite.neurobench_metrics import neurobench_metrics
from ucfdvs.benchmarks.suite.ops import OpCount, count_graph, graph_targets
from ucfdvs.benchmarks.suite.report import NEUROBENCH_UNITS, fig, graph_messages, resources_figures
from ucfdvs.benchmarks.suite.resources import loihi2_resources

SCHEMA = "ucfdvs-run/1"
LOIHI_SOURCE = ("Davies et al. IEEE Micro 2018 Table 2 per-op energies (Loihi 1; none published for Loihi 2) x "
                "counted ops; graded messages at the graded-op figure (constants table); a lower bound of "
                "dynamic energy (see the README's calibration)")
VN_SOURCE = ("Horowitz ISSCC 2014 45 nm: fp32 MAC 4.6 pJ x every connection every step (+ 2 per neuron update), "
             "the stored weights from DRAM {fetch}, state and activations from SRAM; no static power, no launch "
             "overhead")


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def run_counts(net, run) -> OpCount:
    """Operation counts of a :class:`NetworkRun` over all its samples and steps (flush included)."""
    per = run.record.split()
    return count_graph(net.graph, [r.spikes for r in per], [x for x in run.inputs],
                       graded=[{n: r.activity[n] for n in run.graded} for r in per],
                       snippets=run.batch, events=[r.synaptic_events for r in per])


def recurrent_projections(graph) -> list[str]:
    """Synapse layers into a neuron that close a loop: their delay brings the source's output to a
    target whose first input arrived earlier (``arrival[dst] < arrival[src] + delay``)."""
    out = []
    for p in graph.projections:
        a_src, a_dst = graph.arrival.get(p.src), graph.arrival.get(p.dst)
        delays = [t.delay for t in p.terms if t.delay > 0]
        if p.dst in graph.neurons and delays and a_src is not None and a_dst is not None and a_dst < a_src + min(delays):
            out.append(p.name)
    return out


def latency_figures(net) -> dict:
    g = net.graph
    out = {}
    rec = recurrent_projections(g)
    for o, steps in g.latency.items():
        out[o] = {
            "steps": fig(steps, "steps from input step t to its first effect at this Output", "simulated"),
            "seconds": fig(None if steps is None else steps * g.dt, "s", "simulated"),
            "offset_from_source": fig(steps, "steps: the runtime's step t + offset is the source framework's step t "
                                             "(one step per synapse hop; frameworks without hop delays)", "simulated"),
        }
    notes = []
    if rec:
        notes.append(f"recurrent synapse layers {', '.join(rec)}: each hop delays a loop's feedback by one step, "
                     "which equals a source whose recurrent synapses use the previous step's spikes (snnTorch's "
                     "RLeaky/RSynaptic) but not one whose loops have no delay; measure the divergence with "
                     "`ucfdvs bench --reference`")
    return {"outputs": out, "notes": notes}


def layer_figures(c: OpCount, samples: int) -> dict:
    origin = "simulated"
    layers = {}
    for name, layer in c.layers.items():
        layers[name] = {
            "neurons": fig(layer.neurons, "neurons", "measured"),
            "spiking": layer.spiking,
            "spikes": fig(layer.spikes, "spikes", origin),
            "spikes_per_sample": fig(layer.spikes / samples, "spikes/sample", origin),
            "firing_rate": fig(layer.firing_rate if layer.spiking and layer.neurons else None, "spikes/neuron/step", origin),
            "neuron_updates": fig(layer.neuron_steps, "neuron updates", origin),
            "synaptic_ops": fig(layer.synops, "spike x fan-out accumulates", origin),
            "graded_messages": fig(layer.graded_messages, "messages", origin),
            "graded_ops": fig(layer.graded_ops, "graded message x fan-out ops", origin),
            "fan_out": fig(layer.fan_out, "targets/neuron (mean)", "measured"),
        }
    return layers


def stored_weights(nir_graph) -> int:
    """Numbers a GPU/CPU stores for the graph's synapses: every ``weight`` and ``bias`` entry of
    its NIR nodes (a convolution's kernel, not its unrolled matrix)."""
    return int(sum(np.size(getattr(node, k)) for node in nir_graph.nodes.values() for k in ("weight", "bias")
                   if getattr(node, k, None) is not None))


def energy_figures(graph, c: OpCount, samples: int, constants: Constants, weight_words: int) -> dict:
    """Loihi estimate (dynamic, and with static power) and the graph on a GPU/CPU, J per sample.

    GPU/CPU: every connection (non-zero entry of the lowered synapse matrices: a convolution's
    receptive fields, not its unrolled zeros) is a MAC at every step; ``weight_words`` (the stored
    parameters) are read from DRAM every step at batch 1, once per step per batch offline."""
    targets = graph_targets(graph)
    messages = graph_messages(c, targets, graph.input_name)
    seconds = c.steps * graph.dt

    def per_sample(j: float | None, origin: str, source: str) -> dict:
        return {"per_sample": fig(None if j is None else j / samples, "J/sample", origin, source),
                "per_step": fig(None if j is None or not c.steps else j / c.steps, "J/sequence-step", origin, source)}

    dyn = loihi_energy(c.synops, c.graded_ops, c.neuron_updates, c.active_neuron_updates, messages, constants)
    out: dict[str, Any] = {"loihi": {**per_sample(dyn["total"], "estimated", LOIHI_SOURCE),
                                     "components_per_sample": {k: fig(v / samples, "J/sample", "estimated")
                                                               for k, v in dyn.items() if k not in ("total", "static")
                                                               and v is not None}}}
    stat = loihi_energy(c.synops, c.graded_ops, c.neuron_updates, c.active_neuron_updates, messages, constants,
                        run_seconds=seconds)
    if stat["static"] is not None:
        out["loihi_with_static"] = per_sample(stat["total"], "estimated",
                                              f"dynamic + loihi_static_power_w x real time (steps x dt = {seconds:.4g} s)")
    connections = int(sum(np.count_nonzero(t.matrix) for p in graph.projections for t in p.terms if t.delay > 0))
    batch = constants["von_neumann_offline_batch"]
    for key, fetches, how in (("von_neumann_batch1", c.steps, "every step (batch 1)"),
                              ("von_neumann_offline_batch", c.steps / batch, f"once per step per batch of {batch:.0f}")):
        parts = von_neumann_energy(connections * c.steps, 0, c.neuron_updates, weight_words, fetches,
                                   graph.input_size * c.steps, constants)
        out[key] = per_sample(parts["total"], "estimated", VN_SOURCE.format(fetch=how))
    lo, vn = out["loihi"]["per_sample"]["value"], out["von_neumann_batch1"]["per_sample"]["value"]
    off = out["von_neumann_offline_batch"]["per_sample"]["value"]
    out["ratios"] = {
        "loihi_over_gpu_cpu_batch1": fig(lo / vn if vn else None, "ratio", "estimated"),
        "loihi_over_gpu_cpu_offline_batch": fig(lo / off if off else None, "ratio", "estimated"),
        "caveats": ["Loihi side: Loihi 1 per-operation energies, dynamic only, under-predicts Intel's measured "
                    "Loihi 2 dynamic energy by at least 3.5x (README calibration)",
                    "GPU/CPU side: 45 nm arithmetic and memory model, no static power, launches or framework overhead"],
    }
    return out


def spike_agreement(a, b) -> dict:
    """Per spiking layer: fraction of equal entries, spikes in each; outputs: decisions equal."""
    layers = {n: {"agreement": fig(float(np.mean(a.spikes[n] == b.spikes[n])), "fraction of equal spike entries",
                                   "simulated"),
                  "spikes_float": fig(int(a.spikes[n].sum()), "spikes", "simulated"),
                  "spikes_fixed": fig(int(b.spikes[n].sum()), "spikes", "simulated")}
              for n in a.spikes}
    outputs = {}
    for o in a.outputs:
        da = a.outputs[o].reshape(a.batch, a.steps, -1).sum(1).argmax(-1)
        db = b.outputs[o].reshape(b.batch, b.steps, -1).sum(1).argmax(-1)
        outputs[o] = {"decisions_equal": fig(float(np.mean(da == db)), "fraction of samples (argmax of summed output)",
                                             "simulated"),
                      "max_abs_difference": fig(float(np.abs(a.outputs[o] - b.outputs[o]).max()), "output units",
                                                "simulated")}
    return {"layers": layers, "outputs": outputs}


def quantization_figures(net, run, float_run=None) -> dict | None:
    q = run.quant
    if q is None:
        return None
    out = {"input_scale": fig(q.input_scale, "integers per input unit", "simulated"),
           "input_range": fig(net.quant_input_range, "input units", "measured", net.quant_origin),
           "layers": [str(e) for e in q.errors], "warnings": list(q.warnings),
           "origins": dict(q.origins),
           "weight_planes": {qp.name: len(qp.planes) for qp in q.projections if qp.terms},
           "weight_plane_formats": {qp.name: [f"exp {pl.weight_exp} {pl.sign_mode}" for pl in qp.planes]
                                    for qp in q.projections if qp.terms}}
    if getattr(net, "plane_choice", None) is not None:
        out["weight_planes_choice"] = {"rule": "per layer the cheapest of 1, 2, exact, 3 planes (greedy from the "
                                               "input) reaching 99% spike agreement with float on the choice input",
                                       "chosen": net.plane_choice.planes, "tried": net.plane_choice.tried}
    if float_run is not None:
        out["agreement_with_float"] = spike_agreement(float_run, run)
    return out


def network_report(net, run, constants: Constants, float_run=None) -> dict:
    """The ``report.json`` of ``ucfdvs run`` (see the module docstring)."""
    g = net.graph
    c = run_counts(net, run)
    samples = run.batch
    binary = bool(np.all((run.inputs == 0) | (run.inputs == 1)))
    nb = neurobench_metrics(g, c, samples, binary_input=binary)
    s = net.source
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "graph": {"file": net.where, "source": s.source, "dt": fig(s.dt, "s", "assumption" if s.dt_origin == "exporter"
                                                                     else "measured", f"dt from {s.dt_origin}"),
                  "reset": s.reset, "flattened_subgraphs": list(s.flattened), "notes": list(s.notes),
                  "input": {"name": g.input_name, "shape": list(net.input_shape)},
                  "outputs": {o: list(net.shapes[o]) for o in g.outputs}},
        "run": {"backend": run.backend, "precision": run.precision, "samples": samples,
                "input_steps": run.input_steps, "flush_steps": run.flush_steps, "steps": run.steps,
                "wall_seconds": fig(run.wall_s, "s", "measured"),
                "steps_per_second": fig(samples * run.steps / run.wall_s if run.wall_s else None,
                                        "sequence-steps/s on this machine", "measured")},
        "latency": latency_figures(net),
        "layers": layer_figures(c, samples),
        "totals_per_sample": {
            "spikes": fig(c.spikes / samples, "spikes/sample", "simulated"),
            "synaptic_ops": fig(c.synops / samples, "accumulates/sample", "simulated"),
            "graded_ops": fig(c.graded_ops / samples, "graded ops/sample", "simulated"),
            "neuron_updates": fig(c.neuron_updates / samples, "neuron updates/sample", "simulated"),
            "firing_rate": fig(c.spikes / sum(layer.neuron_steps for layer in c.layers.values() if layer.spiking)
                               if any(layer.spiking and layer.neuron_steps for layer in c.layers.values()) else None,
                               "spikes/neuron/step (spiking layers)", "simulated"),
        },
        "resources": resources_figures(loihi2_resources(g, constants, run.quant), constants),
        "energy": energy_figures(g, c, samples, constants, stored_weights(net.nir_graph)),
        "neurobench": {k: fig(v, NEUROBENCH_UNITS[k].replace("video", "sample"),
                              "measured" if k in ("Footprint", "ConnectionSparsity") else "simulated")
                       for k, v in nb.items()},
        "quantization": quantization_figures(net, run, float_run),
    }
    if run.v:
        report["v"] = {"replayed_spike_mismatches": run.v_mismatch,
                       "scale": {n: fig(v, "integers per float unit" if run.quant else "float units", "simulated")
                                 for n, v in run.v_scale.items()}}
    return report
