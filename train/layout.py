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


def frame_labels_for(gt: dict[str, np.ndarray], video: Video, gt_path: Path) -> tuple[np.ndarray, int]:
    """The GT frame labels of one video over the frames its snippets cover, and how many were left out.

    Snippet i covers frames `[16 i, 16 i + 16)`, so `n` snippets cover `16 n` frames. Two conventions
    of feature folders are accepted:
    - the last clip padded: the GT ends inside the last snippet, `16 (n - 1) < frames <= 16 n`;
    - the trailing partial clip dropped: the GT runs up to 15 frames past it, `16 n < frames < 16 (n + 1)`;
      the frames past `16 n` have no score and are left out (returned count).
    A GT of `16 (n - 1)` frames or fewer, or of `16 (n + 1)` or more, belongs to another video: refused.
    """
    if video.stem not in gt:
        raise UserError(f"no ground-truth entry for video {video.stem}", gt_path)
    labels = gt[video.stem]
    n_frames = len(labels)
    covered = FRAMES_PER_SNIPPET * video.n_snippets
    low, high = covered - FRAMES_PER_SNIPPET, covered + FRAMES_PER_SNIPPET - 1
    if n_frames <= low or n_frames > high:
        relation = "shorter than" if n_frames <= low else "longer than"
        raise UserError(
            f"ground truth of {video.stem} has {n_frames} frames, {relation} its {video.n_snippets} snippets "
            f"allow ({low + 1} to {covered} frames with the last clip padded, up to {high} with a partial clip dropped)",
            gt_path,
        )
    left_out = max(0, n_frames - covered)
    return labels[: min(n_frames, covered)], left_out


MIN_VIDEOS_PER_CLASS = 2  # one for validation, at least one left to train on


def split_validation(videos: list[Video], fraction: float, seed: int, where: Path) -> tuple[list[Video], list[Video]]:
    """Carve a validation set out of a training split, by video and stratified by class.

    Each class c with n_c videos gives `max(1, round(fraction * n_c))` of them (at most n_c - 1),
    drawn with `numpy.random.default_rng(seed)`; returns (training videos, validation videos), each
    in split-file order. Every class needs at least 2 videos, else `UserError` naming the shortfall.
    """
    by_class: dict[str, list[int]] = {}
    for index, video in enumerate(videos):
        by_class.setdefault(video.class_name, []).append(index)
    short = sorted(name for name, members in by_class.items() if len(members) < MIN_VIDEOS_PER_CLASS)
    if short:
        counts = ", ".join(f"{name} {len(by_class[name])}" for name in short)
        raise UserError(
            f"the train split is too small for a validation set of every class: each of its {len(by_class)} classes "
            f"needs at least {MIN_VIDEOS_PER_CLASS} videos ({MIN_VIDEOS_PER_CLASS * len(by_class)} in all), "
            f"short: {counts} (or pass --select-on test)",
            where,
        )
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for name in sorted(by_class):
        members = by_class[name]
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        chosen.update(int(i) for i in rng.choice(members, count, replace=False))
    return [v for i, v in enumerate(videos) if i not in chosen], [v for i, v in enumerate(videos) if i in chosen]
