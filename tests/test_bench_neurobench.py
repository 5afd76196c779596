"""Our NeuroBench metrics against the `neurobench` package's own, on small snnTorch networks run in the emulator."""

import pytest

pytest.importorskip("neurobench")

from ucfdvs.benchmarks.neurobench_compare import compare, digits_case, spike_case  # noqa: E402

SNNTORCH_SCALAR_BUFFERS_BYTES = 3 * 4  # graded_spikes_factor, reset_mechanism_val, an empty mem per Leaky layer


@pytest.mark.parametrize("make, binary", [(spike_case, True), (digits_case, False)])
def test_neurobench_metrics_equal_ours_where_definitions_are_equal(make, binary):
    result = compare(make(samples=6, steps=10))
    assert result["spikes_equal_snntorch"] and sum(result["spikes"].values()) > 0
    m = result["metrics"]
    for key in ("ConnectionSparsity", "ActivationSparsity", "Effective_MACs", "Effective_ACs", "Dense"):
        assert m[key]["equal"], (key, m[key])
    assert 0 < m["ActivationSparsity"]["ours"] < 1 and m["ConnectionSparsity"]["ours"] > 0.2
    if binary:  # spike-train input: every operation is an accumulate
        assert m["Effective_MACs"]["neurobench"] == 0 and m["Effective_ACs"]["neurobench"] > 0
    else:  # graded pixels: NeuroBench counts the first layer as effective MACs, and so do we
        assert m["Effective_MACs"]["neurobench"] > 0 and m["Effective_ACs"]["neurobench"] > 0


@pytest.mark.parametrize("make", [spike_case, digits_case])
def test_differences_are_the_explained_ones(make):
    result = compare(make(samples=6, steps=10))
    m = result["metrics"]
    leaky_layers = len(result["spikes"])
    assert m["Footprint"]["neurobench"] - m["Footprint"]["ours"] == leaky_layers * SNNTORCH_SCALAR_BUFFERS_BYTES
    # ours counts every neuron every step; NeuroBench only membranes that changed
    assert m["MembraneUpdates"]["ours"] >= m["MembraneUpdates"]["neurobench"] > 0.8 * m["MembraneUpdates"]["ours"]
    assert all(r["difference_explained"] != "UNEXPLAINED" for r in m.values())
