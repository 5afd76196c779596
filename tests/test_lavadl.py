"""lava-dl networks (slayer CUBA Dense, exported with slayer's own export_hdf5) in the runtime.

Native fixed point keeps the network's own integers: the emulator's and Lava's fixed runs equal
lava-dl netx's own Lava ``fixed_pt`` run and slayer's PyTorch forward spike for spike; the float
run differs from them only through Loihi's truncating decays (measured below).  Timing: the
runtime's layer k (k = 1, 2, ...) at step t + k is the library's step t (slayer's one-step block
delays removed by ``run_slayer``); netx's entry s of a window is the runtime's step s.
"""

from __future__ import annotations

import json

import h5py
import nir
import numpy as np
import pytest

pytest.importorskip("lava.lib.dl.slayer", reason="lava-dl cannot be imported")
torch = pytest.importorskip("torch")

from ucfdvs.benchmarks.slayer_chain import SlayerChain, slayer_spikes  # noqa: E402
from ucfdvs.errors import UserError  # noqa: E402
from ucfdvs.neuro_runtime import load_network  # noqa: E402
from ucfdvs.neuro_runtime.fixed_agreement import spike_agreement  # noqa: E402
from ucfdvs.neuro_runtime.netx_graph import read_netx  # noqa: E402

from conftest import needs_lava  # noqa: E402


def _chain(tmp_path, sizes, seed=0, weight_scale=2.0):
    torch.manual_seed(seed)
    net = SlayerChain(sizes, weight_scale=weight_scale)
    path = tmp_path / "net.net"
    net.export_hdf5(path)
    return net, path


def _spikes(batch, steps, channels, density, seed=1):
    return (np.random.default_rng(seed).random((batch, steps, channels)) < density).astype(np.uint8)


def _at_offset(run, node, k, steps):
    """The runtime's spikes of layer ``node`` (arrival k) on the library's steps 0..steps-1."""
    return run.spikes[node][:, k:k + steps]


@needs_lava
def test_native_fixed_point_is_lava_dl_netx_and_slayer_bit_for_bit(tmp_path):
    from ucfdvs.neuro_runtime.netx_run import run_netx

    net, path = _chain(tmp_path, [12, 16, 8])
    x = _spikes(3, 12, 12, 0.3)
    ref = slayer_spikes(net, x)
    assert all(v.sum() > 20 for v in ref.values()), {k: int(v.sum()) for k, v in ref.items()}
    runtime = load_network(path)
    assert runtime.source.source == "lava-dl"
    emu = runtime.run(x, precision="fixed", flush=True)
    assert runtime.quant.origins == {"cuba_0": "native", "cuba_1": "native"}
    lava = runtime.run(x, backend="lava", precision="fixed", flush=True)
    netx = run_netx(path, x, interval=16)  # netx's own Lava fixed_pt run, state reset per sample
    for k, node in enumerate(["cuba_0", "cuba_1"]):
        np.testing.assert_array_equal(lava.spikes[node], emu.spikes[node])
        np.testing.assert_array_equal(_at_offset(emu, node, k + 1, 12), ref[node])
        np.testing.assert_array_equal(netx[k][:, k + 1:k + 13], ref[node])


@needs_lava
def test_netx_delays_are_lava_dl_netx_bit_for_bit(tmp_path):
    """Axonal delays (slayer ``delay=True``): netx puts a layer's delays on its incoming synapses,
    the runtime on a Delay node before the layer: identical to netx's Lava run; the next layer equals
    slayer's (which delays the layer's output instead)."""
    from lava.lib.dl import slayer

    from ucfdvs.benchmarks.slayer_chain import NEURON
    from ucfdvs.neuro_runtime.netx_run import run_netx

    torch.manual_seed(0)
    net = SlayerChain([12, 16, 8])
    net.blocks[0] = slayer.block.cuba.Dense(dict(NEURON), 12, 16, weight_scale=2, delay=True)
    with torch.no_grad():
        net(torch.zeros(1, 12, 1))  # slayer sizes the delays in the first forward
        net.blocks[0].delay.delay.data = torch.randint(0, 4, (16,)).float()
    net.export_hdf5(tmp_path / "delay.net")
    x = _spikes(2, 12, 12, 0.3)
    runtime = load_network(tmp_path / "delay.net")
    assert "delay_0" in runtime.nir_graph.nodes
    emu = runtime.run(x, precision="fixed", flush=True)
    netx = run_netx(tmp_path / "delay.net", x, interval=20)
    steps = emu.steps
    for k, node in enumerate(["cuba_0", "cuba_1"]):
        assert emu.spikes[node].sum() > 10
        np.testing.assert_array_equal(emu.spikes[node][:, k + 1:], netx[k][:, k + 1:steps])
    np.testing.assert_array_equal(_at_offset(emu, "cuba_1", 2, 12), slayer_spikes(net, x)["cuba_1"])


@needs_lava
def test_netx_bias_is_lava_dl_netx_bit_for_bit(tmp_path):
    """netx's ``bias`` (Lava ``bias_mant`` << 6 added to v every step) becomes the CubaLIF's v_leak
    and comes back as the same integer in native fixed point."""
    from ucfdvs.neuro_runtime.netx_run import run_netx

    _, path = _chain(tmp_path, [12, 16, 8])
    with h5py.File(path, "a") as f:
        f.create_dataset("layer/0/bias", data=np.random.default_rng(2).integers(-10, 30, 16).astype(np.float32))
    x = _spikes(2, 12, 12, 0.2)
    runtime = load_network(path)
    emu = runtime.run(x, precision="fixed", flush=True)
    assert set(runtime.quant.origins.values()) == {"native"}
    assert emu.spikes["cuba_0"].sum() == 64  # 49 without the bias
    netx = run_netx(path, x, interval=20)
    for k, node in enumerate(["cuba_0", "cuba_1"]):
        np.testing.assert_array_equal(emu.spikes[node][:, k + 1:], netx[k][:, k + 1:emu.steps])


@needs_lava
def test_netx_conv_network_is_lava_dl_bit_for_bit(tmp_path):
    """slayer Input (no neuron) -> Conv 2-4 3x3 pad 1 -> Conv 4-4 3x3 stride 2 -> Flatten -> Dense 48-5:
    every layer equals slayer's forward and netx's Lava run in native fixed point."""
    from lava.lib.dl import slayer

    from ucfdvs.benchmarks.slayer_chain import NEURON
    from ucfdvs.neuro_runtime.netx_run import run_netx

    torch.manual_seed(0)
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Input(None, delay_shift=False),
        slayer.block.cuba.Conv(dict(NEURON), 2, 4, 3, padding=1, weight_scale=3),
        slayer.block.cuba.Conv(dict(NEURON), 4, 4, 3, stride=2, weight_scale=3),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(dict(NEURON), 48, 5, weight_scale=3)])
    x = _spikes(2, 10, 2 * 8 * 9, 0.4).reshape(2, 10, 2, 8, 9)
    h = torch.as_tensor(np.concatenate([x, np.zeros_like(x[:, :3])], 1), dtype=torch.float32).permute(0, 2, 3, 4, 1)
    ref = []
    with torch.no_grad():
        for block in blocks:  # slayer: [B, C, H, W, T]; block k's output at step t = the runtime's layer k
            h = block(h)
            if block.neuron is not None if hasattr(block, "neuron") else False:
                ref.append(np.moveaxis(h.numpy(), -1, 1).astype(np.uint8))
    with h5py.File(tmp_path / "conv.net", "w") as f:
        for i, block in enumerate(blocks):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    runtime = load_network(tmp_path / "conv.net")
    emu = runtime.run(x, precision="fixed", flush=True)
    assert set(runtime.quant.origins.values()) == {"native"}
    netx = run_netx(tmp_path / "conv.net", x, interval=16)
    for k, node in enumerate(["cuba_1", "cuba_2", "cuba_4"]):
        got = emu.spikes[node]
        assert got.sum() > 10, (node, int(got.sum()))
        np.testing.assert_array_equal(got[:, k + 1:], ref[k][:, k + 1:emu.steps].reshape(got[:, k + 1:].shape))
        np.testing.assert_array_equal(got[:, k + 1:], netx[k][:, k + 1:emu.steps])


def test_float_run_follows_slayer_up_to_its_truncating_decays(tmp_path):
    net, path = _chain(tmp_path, [12, 16, 8])
    x = _spikes(3, 12, 12, 0.3)
    ref = slayer_spikes(net, x)
    run = load_network(path).run(x, precision="float", flush=True)
    got = [spike_agreement(_at_offset(run, f"cuba_{k}", k + 1, 12), ref[f"cuba_{k}"]) for k in range(2)]
    assert got[0] == 1.0 and got[1] >= 0.964, got  # measured 1.0, 0.9643 (27 of 28 spikes of layer 2)


def test_dense_200_256_200_fixed_point_does_not_wrap(tmp_path):
    """The issue's case: fixed point is slayer's unbounded int64 arithmetic exactly (no 24-bit wrap),
    and float agrees with it to the extent Loihi's per-step truncation of the decays allows."""
    net, path = _chain(tmp_path, [200, 256, 200])
    x = _spikes(4, 100, 200, 0.1)
    ref = slayer_spikes(net, x)
    runtime = load_network(path)
    fixed = runtime.run(x, precision="fixed", flush=True)
    flt = runtime.run(x, precision="float", flush=True)
    agreement = []
    for k in range(2):
        node = f"cuba_{k}"
        np.testing.assert_array_equal(_at_offset(fixed, node, k + 1, 100), ref[node])
        agreement.append(spike_agreement(_at_offset(flt, node, k + 1, 100), ref[node]))
    assert [int(v.sum()) for v in ref.values()] == [11916, 17621]  # 12 % and 22 % of neuron-steps
    assert agreement[0] >= 0.996 and agreement[1] >= 0.944, agreement  # measured 0.9962, 0.9446


def test_lava_dl_nir_file_keeps_its_grid_per_layer(tmp_path):
    """A NIR file in the lava-dl convention (lava-dl PR #218's reader) keeps its 8-bit grid; a layer
    moved off the grid is re-quantised and said so."""
    net, path = _chain(tmp_path, [12, 16, 8])
    graph = read_netx(path)
    nir.write(tmp_path / "on_grid.nir", graph)
    x = _spikes(2, 10, 12, 0.3)
    from_netx = load_network(path).run(x, precision="fixed", flush=True)
    on_grid = load_network(tmp_path / "on_grid.nir", source="lava-dl")
    run = on_grid.run(x, precision="fixed", flush=True)
    assert set(on_grid.quant.origins.values()) == {"native"}
    for node in ("cuba_0", "cuba_1"):
        np.testing.assert_array_equal(run.spikes[node], from_netx.spikes[node])
    graph.nodes["dense_1"].weight = graph.nodes["dense_1"].weight + 0.3
    nir.write(tmp_path / "off_grid.nir", graph)
    off = load_network(tmp_path / "off_grid.nir", source="lava-dl")
    off.quantize()
    assert off.quant.origins["cuba_0"] == "native"
    assert off.quant.origins["cuba_1"].startswith("re-quantised: layer cuba_0->cuba_1: weights are not integers")


def test_run_command_reports_native_layers(tmp_path, run_cli):
    _, path = _chain(tmp_path, [12, 16, 8])
    np.save(tmp_path / "x.npy", _spikes(2, 10, 12, 0.3))
    code, out, err = run_cli("run", "--nir", path, "--input", tmp_path / "x.npy", "--precision", "fixed",
                             "--flush", "--out", tmp_path / "out")
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["graph"]["source"] == "lava-dl"
    assert report["quantization"]["origins"] == {"cuba_0": "native", "cuba_1": "native"}
    assert report["quantization"]["agreement_with_float"]["layers"]["cuba_0"]["spikes_fixed"]["value"] > 0


def _netx_file(path, layer_type="dense", **neuron):
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [layer_type.encode()])
        g.create_dataset("shape", data=np.array([3]))
        g.create_dataset("weight", data=np.full((3, 4), 2.0))
        for key, value in {"type": "CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1,
                           "gradedSpike": False, **neuron}.items():
            g.create_dataset(f"neuron/{key}", data=value)


@pytest.mark.parametrize("layer_type, neuron, match", [
    ("pool", {}, "layer 0 has type 'pool', which the runtime does not read"),
    ("conv", {}, r"layer 0 \(conv\): the input shape is unknown \(no input layer\)"),
    ("dense_rec", {}, "layer 0 has type 'dense_rec'"),
    ("dense", {"type": "SDNN"}, "layer 0: neuron type 'SDNN' is not supported"),
    ("dense", {"iDecay": 0}, "layer 0: iDecay = 0"),
    ("dense", {"vThMant": (1 << 18) - 1}, "layer 0: vThMant 262143 is outside"),
    ("dense", {"gradedSpike": True}, "layer 0: graded spikes"),
])
def test_unsupported_netx_layers_are_refused_in_one_line(tmp_path, layer_type, neuron, match):
    path = tmp_path / "bad.net"
    _netx_file(path, layer_type, **neuron)
    with pytest.raises(UserError, match=match) as info:
        load_network(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_flat_weight_without_a_dividing_shape_is_refused(tmp_path):
    path = tmp_path / "flat.net"
    _netx_file(path)
    with h5py.File(path, "a") as f:  # an input layer of 4, then the dense layer of 3 with 10 weights
        f.move("layer/0", "layer/1")
        f.create_dataset("layer/0/type", (1,), "S10", [b"input"])
        f.create_dataset("layer/0/shape", data=np.array([4]))
        del f["layer/1/weight"]
        f["layer/1/weight"] = np.full(10, 2.0)
    with pytest.raises(UserError, match=r"layer 1 \(dense\): a flat weight of 10 values needs a layer shape"):
        load_network(path)


def test_auto_weight_planes_keep_a_native_network_native(tmp_path):
    _, path = _chain(tmp_path, [12, 16, 8])
    x = _spikes(3, 12, 12, 0.3)
    net = load_network(path)
    native = net.run(x, precision="fixed").spikes
    net.quantize(calibration=x, weight_planes="auto")
    assert net.quant.origins == {"cuba_0": "native", "cuba_1": "native"} and net.plane_choice is None
    assert all(len(qp.planes) == 1 for qp in net.quant.projections)
    again = net.run(x, precision="fixed").spikes
    assert all(np.array_equal(again[k], native[k]) for k in native)


def test_bad_files_and_sources(tmp_path, run_cli):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_group("weights")
    with pytest.raises(UserError, match="neither a NIR graph nor a lava-dl netx network"):
        load_network(other)
    _netx_file(tmp_path / "ok.net")
    with pytest.raises(UserError, match="netx HDF5 file; --source snntorch does not apply"):
        load_network(tmp_path / "ok.net", source="snntorch")
    np.save(tmp_path / "x.npy", np.zeros((5, 4)))
    code, _, err = run_cli("run", "--nir", other, "--input", tmp_path / "x.npy", "--out", tmp_path / "o")
    assert code == 2 and "neither a NIR graph nor a lava-dl netx network" in err
    assert not (tmp_path / "o").exists()


def test_non_integer_input_to_a_native_network_warns(tmp_path):
    from ucfdvs.neuro_runtime import QuantizationWarning

    _, path = _chain(tmp_path, [12, 16, 8])
    net = load_network(path)
    with pytest.warns(QuantizationWarning, match="takes spikes"):
        net.run(_spikes(1, 5, 12, 0.3) * 0.5, precision="fixed")
