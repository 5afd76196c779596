"""The official UCF-Crime-DVS feature layout, read and validated.

    ROOT/features_video/<extractor>/<modality>/<Video>_x264.npy   [n_snippets, D] float
    ROOT/train_split.txt, ROOT/test_split.txt                      one `<Video>_x264.npy` per line
    ROOT/GT/gt-ucf-dic.pickle                                      {stem: per-frame 0/1 array at 30 fps}

A name starting with `Normal` is a normal video; every other name is anomalous. The paper's code
uses extractor `Spikingformer`, modality `feature_hardvs`, D = 256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ucfdvs.errors import UserError
from ucfdvs.train.safe_pickle import load_restricted_pickle
from ucfdvs.train.ucf_classes import FRAMES_PER_SNIPPET, class_of, is_normal

DEFAULT_EXTRACTOR = "Spikingformer"
DEFAULT_MODALITY = "feature_hardvs"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class FeatureLayout:
    """Paths of one feature dataset in the official layout."""

    root: Path
    extractor: str = DEFAULT_EXTRACTOR
    modality: str = DEFAULT_MODALITY

    @property
    def feature_dir(self) -> Path:
        return self.root / "features_video" / self.extractor / self.modality

    def feature_path(self, stem: str) -> Path:
        return self.feature_dir / f"{stem}.npy"

    def split_path(self, split: str) -> Path:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        return self.root / f"{split}_split.txt"

    @property
    def gt_path(self) -> Path:
        return self.root / "GT" / "gt-ucf-dic.pickle"


@dataclass(frozen=True)
class Video:
    """One video of a split: its features `[n_snippets, D]` float32 and its weak label."""

    stem: str
    features: np.ndarray
    is_anomalous: bool
    class_name: str

    @property
    def n_snippets(self) -> int:
        return int(self.features.shape[0])


def read_split(layout: FeatureLayout, split: str) -> list[str]:
    """Video stems listed in `ROOT/<split>_split.txt` (the `.npy` suffix removed)."""
    path = layout.split_path(split)
    if not path.is_file():
        raise UserError("split file not found", path)
    stems = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if "/" in name or "\\" in name or not name.endswith(".npy"):
            raise UserError(f"line {number}: expected `<Video>_x264.npy`, got {name!r}", path)
        stems.append(name[: -len(".npy")])
    if not stems:
        raise UserError("split file lists no videos", path)
    if len(set(stems)) != len(stems):
        raise UserError("split file lists a video twice", path)
    return stems


def load_features(path: Path, feature_dim: int | None = None) -> np.ndarray:
    """One video's features `[n_snippets, D]` as float32, validated (finite, non-empty, D as expected)."""
    if not path.is_file():
        raise UserError("feature file not found", path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UserError(f"not a readable .npy file ({err})", path) from None
    if array.ndim != 2:
        raise UserError(f"expected a 2-D array [n_snippets, D], got shape {array.shape}", path)
    if array.shape[0] == 0:
        raise UserError("holds 0 snippets", path)
    if array.dtype.kind not in "fiu":
        raise UserError(f"expected float features, got dtype {array.dtype}", path)
    if feature_dim is not None and array.shape[1] != feature_dim:
        raise UserError(f"feature size D={array.shape[1]}, the model expects D={feature_dim}", path)
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0, 0])
        raise UserError(f"holds NaN or inf (first at snippet {bad})", path)
    return array


def load_split(layout: FeatureLayout, split: str, feature_dim: int | None = None) -> list[Video]:
    """All videos of a split with their features in memory; every file is validated."""
    videos = []
    for stem in read_split(layout, split):
        features = load_features(layout.feature_path(stem), feature_dim)
        if feature_dim is None:
            feature_dim = features.shape[1]
        videos.append(Video(stem, features, not is_normal(stem), class_of(stem)))
    return videos


def load_ground_truth(layout: FeatureLayout) -> dict[str, np.ndarray]:
    """Per-frame 0/1 labels at 30 fps for each test video, from the (untrusted) GT pickle."""
    path = layout.gt_path
    value = load_restricted_pickle(path)
    if not isinstance(value, dict):
        raise UserError(f"expected a dict from video name to frame labels, got {type(value).__name__}", path)
    gt = {}
    for stem, labels in value.items():
        array = np.asarray(labels)
        if array.ndim != 1 or not np.isin(array, (0, 1)).all():
            raise UserError(f"entry {stem!r} is not a 1-D array of 0/1 frame labels", path)
        gt[str(stem)] = array.astype(np.int8)
    return gt


def frame_labels_for(gt: dict[str, np.ndarray], video: Video, gt_path: Path) -> np.ndarray:
    """The GT frame labels of one test video, checked against its snippet count.

    The scores cover `16 * n_snippets` frames; the GT must end inside the last snippet.
    """
    if video.stem not in gt:
        raise UserError(f"no ground-truth entry for test video {video.stem}", gt_path)
    labels = gt[video.stem]
    n_frames = len(labels)
    low, high = FRAMES_PER_SNIPPET * (video.n_snippets - 1), FRAMES_PER_SNIPPET * video.n_snippets
    if n_frames <= low:
        raise UserError(
            f"ground truth of {video.stem} has {n_frames} frames, shorter than its "
            f"{video.n_snippets} snippets ({low + 1} to {high} frames expected)",
            gt_path,
        )
    if n_frames > high:
        raise UserError(
            f"ground truth of {video.stem} has {n_frames} frames, longer than its "
            f"{video.n_snippets} snippets cover ({high} frames)",
            gt_path,
        )
    return labels
