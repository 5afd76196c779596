"""The spiking feature extractor: shapes, the written feature layout, pretraining, and bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ucfdvs.errors import UserError
from ucfdvs.train.extractor import (
    CLASSES, BackboneConfig, PretrainConfig, SpikingBackbone, extract_features, load_extractor, pretrain_extractor,
    save_extractor,
)
from ucfdvs.train.extractor.backbone import readout
from ucfdvs.train.extractor.checkpoint import EXTRACTOR_FORMAT
from ucfdvs.train.extractor.event_frames import snippet_windows
from ucfdvs.train.extractor.pretrain import clip_bank, clip_metrics, prior_shift
from ucfdvs.train.layout import FeatureLayout, load_ground_truth, load_split, read_split
from ucfdvs.train.synthetic_events import SMALL_CONFIG, write_synthetic_events

TINY = BackboneConfig(width=16, height=12, channels=(4, 8), feature_dim=8)


@pytest.fixture(scope="module")
def events_root(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ev") / "small"
    write_synthetic_events(root, SMALL_CONFIG, seed=2, progress=False)
    return root


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_extractor(path, SpikingBackbone(TINY), {"note": "random"})
    return path


def test_backbone_shapes_and_rates():
    model = SpikingBackbone(TINY).eval()
    x = (torch.rand(3, TINY.frames, 2, TINY.height, TINY.width) < 0.3).float()
    features, logits = model(x)
    assert features.shape == (3, TINY.feature_dim) and features.dtype == torch.float32
    assert logits.shape == (3, len(CLASSES)) and CLASSES[-1] == "Normal"
    assert torch.all((features >= 0) & (features <= 1))
    assert SpikingBackbone().features(torch.zeros(1, 4, 2, 36, 64)).shape == (1, 256)


def test_config_needs_frames_that_tile_the_snippet():
    assert TINY.snippet_frames == 4 and TINY.frames == 8
    with pytest.raises(ValueError, match="frame_us"):
        BackboneConfig(frame_us=100_000)
    with pytest.raises(ValueError, match="frames"):
        BackboneConfig(frames=2)


def test_readout_is_the_rate_at_the_most_active_position():
    spikes = torch.zeros(4, 1, 2, 3, 3)
    spikes[:3, 0, 0, 2, 1] = 1.0
    spikes[0, 0, 0, 0, 0] = 1.0
    spikes[:, 0, 1] = 0.5
    assert torch.allclose(readout(spikes), torch.tensor([[0.75, 0.5]]))


def test_snippet_windows_end_with_their_snippet():
    bins = np.arange(12).reshape(12, 1, 1, 1)
    windows = snippet_windows(bins, 3, 4, 8)[:, :, 0, 0, 0]
    assert windows.shape == (3, 8)
    assert windows[0].tolist() == list(range(8)) and windows[1].tolist() == list(range(8))
    assert windows[2].tolist() == list(range(4, 12))


def test_clip_metrics_against_hand_counts():
    normal = CLASSES.index("Normal")
    truth = np.array([normal] * 8 + [0, 0])
    predicted = np.array([normal] * 7 + [0, 0, normal])
    metrics = clip_metrics(truth, predicted, normal)
    assert metrics["accuracy"] == pytest.approx(0.8) and metrics["majority_accuracy"] == pytest.approx(0.8)
    assert metrics["balanced_accuracy"] == pytest.approx((7 / 8 + 1 / 2) / 2)
    assert metrics["anomaly_vs_normal_accuracy"] == pytest.approx(0.8)
    assert metrics["per_class_clips"] == {"Abuse": 2, "Normal": 8}


def test_prior_shift_moves_decisions_towards_frequent_classes():
    natural = np.zeros(len(CLASSES))
    natural[-1], natural[0] = 98.0, 2.0
    sampled = np.full(len(CLASSES), 1.0 / len(CLASSES))
    shift = prior_shift(natural, sampled)
    assert shift[-1] > shift[0] > shift[1] and shift[-1] == pytest.approx(np.log(99 / 114 * 14))
    logits = np.zeros((1, len(CLASSES)))
    logits[0, 0] = 2.0
    assert logits.argmax() == 0 and (logits + shift).argmax() == len(CLASSES) - 1


def test_clip_bank_renders_one_labelled_clip_per_scene():
    bank = clip_bank(SMALL_CONFIG, TINY, 1, seed=3, progress=False)
    assert bank.clips[:, 2].tolist() == list(range(len(CLASSES))) and not bank.clips[:, 1].any()
    assert all(b.shape == (TINY.frames, 2, TINY.height, TINY.width) and b.any() for b in bank.bins)
    x, y = bank.batch(np.arange(3), TINY.frames)
    assert x.shape == (3, TINY.frames, 2, TINY.height, TINY.width) and y.tolist() == [0, 1, 2]


def test_extract_writes_the_official_layout(events_root, tiny_checkpoint, tmp_path):
    out = tmp_path / "features"
    summary = extract_features(events_root, out, tiny_checkpoint, progress=False)
    layout = FeatureLayout(out)
    gt = load_ground_truth(layout)
    assert sorted(gt) == sorted(read_split(layout, "test") + read_split(layout, "train"))  # synthetic GT: every video
    for split in ("train", "test"):
        assert read_split(layout, split) == read_split(FeatureLayout(events_root), split)
        for video in load_split(layout, split, TINY.feature_dim):
            array = np.load(layout.feature_path(video.stem))
            assert array.dtype == np.float32 and array.shape[1] == TINY.feature_dim
            if video.stem in gt:
                assert array.shape[0] == -(-len(gt[video.stem]) // 16)
    assert summary["videos"] == SMALL_CONFIG.n_train + SMALL_CONFIG.n_test
    assert (out / "extractor_info.json").is_file() and (out / "Temporal_Anomaly_Annotation.txt").is_file()


def test_pretrain_saves_a_loadable_frozen_checkpoint(events_root, tmp_path):
    path = tmp_path / "extractor.pt"
    metrics = pretrain_extractor(events_root, path, PretrainConfig(iterations=2, batch_size=4, bank_per_class=1), TINY,
                                 progress=False)
    assert 0.0 <= metrics["balanced_accuracy"] <= 1.0 and 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n_clips"] > 0
    assert metrics["majority_class"] == "Normal" and metrics["train_class_counts"]["Abuse"] >= 1
    assert 0.0 <= metrics["accuracy_prior_adjusted"] <= 1.0
    model, saved = load_extractor(path)
    assert model.config == TINY and saved["n_clips"] == metrics["n_clips"]
    assert not any(p.requires_grad for p in model.parameters())


def test_missing_events_folder_is_a_one_line_error(tmp_path, tiny_checkpoint):
    (tmp_path / "root").mkdir()
    with pytest.raises(UserError, match="events"):
        extract_features(tmp_path / "root", tmp_path / "out", tiny_checkpoint, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["corrupt", "empty"])
def test_bad_event_file_names_the_file(events_root, tiny_checkpoint, tmp_path, damage):
    root = tmp_path / "copy"
    shutil.copytree(events_root, root)
    stem = read_split(FeatureLayout(root), "train")[0]
    path = root / "events" / f"{stem}.npz"
    if damage == "corrupt":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    else:
        empty = np.zeros(0, dtype=np.int64)
        np.savez(path, t=empty, x=empty.astype(np.uint16), y=empty.astype(np.uint16), p=empty.astype(np.uint8))
    with pytest.raises(UserError) as info:
        extract_features(root, tmp_path / "out", tiny_checkpoint, progress=False)
    message = str(info.value)
    assert message.startswith("1 of 14 videos failed") and str(path) in message and "\n" not in message
    assert ("no events" in message) if damage == "empty" else ("npz" in message)
    layout = FeatureLayout(tmp_path / "out")
    written = sorted(p.name for p in layout.feature_dir.glob("*.npy"))
    assert len(written) == 13 and f"{stem}.npy" not in written
    assert not (tmp_path / "out" / "extractor_info.json").exists()


def test_bad_checkpoint_names_the_file(events_root, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="bad.pt"):
        extract_features(events_root, tmp_path / "out", bad, progress=False)
    old = tmp_path / "old.pt"
    torch.save({"format": "ucfdvs-extractor/1", "backbone": {}, "state_dict": {}}, old)
    with pytest.raises(UserError, match=f"old.pt: not an extractor checkpoint .*{EXTRACTOR_FORMAT}"):
        load_extractor(old)
    assert not (tmp_path / "out").exists()


def test_sew_residual_variant_runs():
    model = SpikingBackbone(BackboneConfig(width=16, height=12, channels=(4, 8), feature_dim=8, residual=True))
    features, logits = model(torch.ones(2, 4, 2, 12, 16))
    assert features.shape == (2, 8) and logits.shape == (2, len(CLASSES))


def test_commands_register_and_run(tmp_path, capsys):
    import argparse

    from ucfdvs.train.extractor.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth-events", "--out", str(tmp_path / "ev"), "--small", "--seed", "1"])
    args.func(args)
    assert "wrote 8 train and 6 test" in capsys.readouterr().out
    args = parser.parse_args(["extract", "--events", str(tmp_path / "ev"), "--out", str(tmp_path / "f")])
    with pytest.raises(UserError, match="extractor.pt"):
        args.func(args)
