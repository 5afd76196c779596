"""Every bad input gets a one-line error naming the file, exit status 2, and nothing half-written."""

import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from ucfdvs.train.checkpoint import save_checkpoint
from ucfdvs.train.layout import FeatureLayout, read_split
from ucfdvs.train.model.registry import build_model


@pytest.fixture
def data(tiny_data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy)
    return copy


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "msf.pt"
    save_checkpoint(path, build_model("msf"), "msf")
    return path


def first_test_video(data):
    return read_split(FeatureLayout(data), "test")[0]


def assert_one_line_error(result, *fragments):
    code, out, err = result
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]


def eval_args(data, checkpoint, out):
    return ("eval", "--data", data, "--checkpoint", checkpoint, "--out", out, "--device", "cpu")


def test_missing_split_file(data, checkpoint, run_cli, tmp_path):
    (data / "test_split.txt").unlink()
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), "test_split.txt", "not found")
    assert not (tmp_path / "o").exists()


def test_missing_gt_file(data, checkpoint, run_cli, tmp_path):
    os.remove(FeatureLayout(data).gt_path)
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), "gt-ucf-dic.pickle")


def test_listed_feature_file_missing(data, checkpoint, run_cli, tmp_path):
    stem = first_test_video(data)
    FeatureLayout(data).feature_path(stem).unlink()
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), f"{stem}.npy", "not found")


@pytest.mark.parametrize(
    "array, problem",
    [
        (np.full((5, 256), np.nan, np.float32), "NaN or inf"),
        (np.array([[0.0] * 256, [np.inf] * 256], np.float32), "NaN or inf"),
        (np.zeros((0, 256), np.float32), "0 snippets"),
        (np.zeros((5, 128), np.float32), "D=128"),
    ],
)
def test_bad_feature_file(data, checkpoint, run_cli, tmp_path, array, problem):
    stem = first_test_video(data)
    np.save(FeatureLayout(data).feature_path(stem), array)
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), f"{stem}.npy", problem)
    assert not (tmp_path / "o").exists()


def _rewrite_gt(data, change):
    path = FeatureLayout(data).gt_path
    with open(path, "rb") as handle:
        gt = pickle.load(handle)
    change(gt)
    with open(path, "wb") as handle:
        pickle.dump(gt, handle)


def test_gt_entry_missing(data, checkpoint, run_cli, tmp_path):
    stem = first_test_video(data)
    _rewrite_gt(data, lambda gt: gt.pop(stem))
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), "gt-ucf-dic.pickle", stem)


def test_gt_shorter_than_scores(data, checkpoint, run_cli, tmp_path):
    stem = first_test_video(data)
    _rewrite_gt(data, lambda gt: gt.__setitem__(stem, gt[stem][:-20]))
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o")), "gt-ucf-dic.pickle", "shorter")


def _pad_gt_to(data, stem, frames):
    """Set the GT of `stem` to `frames` frames: its labels, then copies of its last label."""
    _rewrite_gt(data, lambda gt: gt.__setitem__(stem, np.resize(gt[stem], frames) if frames <= len(gt[stem])
                                                 else np.concatenate([gt[stem], np.full(frames - len(gt[stem]), gt[stem][-1])])))


def test_both_snippet_conventions_and_the_refusal(data, checkpoint, run_cli, tmp_path):
    import json

    videos = read_split(FeatureLayout(data), "test")
    n = {stem: np.load(FeatureLayout(data).feature_path(stem)).shape[0] for stem in videos}
    _pad_gt_to(data, videos[0], 16 * n[videos[0]])  # padded clip: ends exactly at the last snippet's end
    _pad_gt_to(data, videos[1], 16 * n[videos[1]] + 15)  # dropped partial clip of 15 frames
    _pad_gt_to(data, videos[2], 16 * n[videos[2]] + 7)  # of 7 frames
    out = tmp_path / "o"
    code, stdout, _ = run_cli(*eval_args(data, checkpoint, out))
    assert code == 0 and json.loads(stdout)["gt_frames_left_out"] == 22
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gt_frames_left_out"] == 22
    assert metrics["gt_frames_left_out_per_video"] == {videos[1]: 15, videos[2]: 7}
    assert run_cli("summary", "--eval", f"MSF={out}", "--out", tmp_path / "s.md")[0] == 0
    summary = (tmp_path / "s.md").read_text()
    assert "left out of the metrics: MSF 22" in summary and f"{videos[1]} 15" in summary
    _pad_gt_to(data, videos[1], 16 * n[videos[1]] + 16)  # a whole snippet more: another video's GT
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, tmp_path / "o2")), "gt-ucf-dic.pickle", videos[1],
                          f"{16 * n[videos[1]] + 16} frames, longer than its {n[videos[1]]} snippets")


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [{"Abuse028_x264": Exploit()}, {"Abuse028_x264": np.array(["a"], dtype=object)}])
def test_pickle_with_foreign_objects_is_refused(data, checkpoint, run_cli, tmp_path, payload):
    with open(FeatureLayout(data).gt_path, "wb") as handle:
        pickle.dump(payload, handle)
    code, out, err = run_cli(*eval_args(data, checkpoint, tmp_path / "o"))
    assert_one_line_error((code, out, err), "gt-ucf-dic.pickle", "not a plain ground-truth pickle")
    assert "pwned" not in out


def test_checkpoint_of_another_architecture(data, run_cli, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "ucfdvs-checkpoint/1", "arch": "msf", "hyperparameters": {},
                "state_dict": build_model("linear").state_dict()}, foreign)
    assert_one_line_error(run_cli(*eval_args(data, foreign, tmp_path / "o")), "foreign.pt", "do not match")
    plain = tmp_path / "plain.pt"
    torch.save(build_model("msf").state_dict(), plain)
    assert_one_line_error(run_cli(*eval_args(data, plain, tmp_path / "o")), "plain.pt", "not a ucfdvs checkpoint")
    unknown = tmp_path / "unknown.pt"
    torch.save({"format": "ucfdvs-checkpoint/1", "arch": "transformer", "state_dict": {}}, unknown)
    assert_one_line_error(run_cli(*eval_args(data, unknown, tmp_path / "o")), "unknown.pt", "unknown architecture")


def test_train_flags(data, run_cli, tmp_path, capsys):
    base = ("train", "--data", data, "--out", tmp_path / "r", "--device", "cpu")
    with pytest.raises(SystemExit) as exit_:  # argparse: usage and one error line
        run_cli(*base, "--model", "msf-paper")
    assert exit_.value.code == 2 and "invalid choice: 'msf-paper'" in capsys.readouterr().err
    assert_one_line_error(run_cli(*base, "--schedule", "paper", "--iterations", "5"), "--schedule paper")
    assert_one_line_error(run_cli(*base, "--val-fraction", "1.5"), "val_fraction")
    keep = read_split(FeatureLayout(data), "train")
    arson = [s for s in keep if s.startswith("Arson")]
    (data / "train_split.txt").write_text("".join(f"{s}.npy\n" for s in keep if s not in arson[1:]))
    assert_one_line_error(run_cli(*base, "--iterations", "1"), "train_split.txt", "needs at least 2 videos (28 in all)",
                          "Arson 1", "--select-on test")
    assert run_cli(*base, "--iterations", "1", "--select-on", "test")[0] == 0


def test_checkpoint_of_the_other_variant(data, run_cli, tmp_path):
    released = tmp_path / "released.pt"
    save_checkpoint(released, build_model("msf-released"), "msf-released")
    run = ("train", "--data", data, "--out", tmp_path / "r", "--device", "cpu", "--iterations", "2")
    assert_one_line_error(run_cli(*run, "--model", "msf", "--resume", released), "released.pt",
                          "holds architecture 'msf-released', expected 'msf'")


def test_truncated_checkpoint(data, checkpoint, run_cli, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    assert_one_line_error(run_cli(*eval_args(data, truncated, tmp_path / "o")), "truncated.pt", "truncated")


def test_output_folder_with_a_run_is_refused(data, checkpoint, run_cli, tmp_path):
    out = tmp_path / "o"
    assert run_cli(*eval_args(data, checkpoint, out))[0] == 0
    before = (out / "metrics.json").read_bytes()
    assert_one_line_error(run_cli(*eval_args(data, checkpoint, out)), str(out), "--force")
    assert (out / "metrics.json").read_bytes() == before
    assert run_cli(*eval_args(data, checkpoint, out), "--force")[0] == 0

    run = tmp_path / "run"
    train = ("train", "--data", data, "--out", run, "--iterations", "1", "--eval-every", "1", "--device", "cpu")
    assert run_cli(*train)[0] == 0
    assert_one_line_error(run_cli(*train), str(run), "already holds a run")
    assert run_cli(*train, "--force")[0] == 0


def test_synth_refuses_non_empty_folder(run_cli, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    assert_one_line_error(run_cli("synth-features", "--out", tmp_path / "d"), "not empty")
    assert (tmp_path / "d" / "keep.txt").read_text() == "mine"
