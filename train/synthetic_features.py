"""A deterministic synthetic stand-in for the UCF-Crime-DVS pre-extracted features.

Written in the official layout (see `train.layout`). The generative model, per video of n
snippets, in a K-dimensional latent space (K = 32) mapped to D = 256 feature channels:

    h[t] = A^T (scene + m[t] a[t] + distractors[t] + anomaly[t]) + noise[t]     noise ~ N(0, sigma^2 I_D)
    x[t] = softplus(h[t])                                                       (non-negative, like rates)

- scene: one latent offset per video (camera and place), N(0, 0.5^2 I).
- normal activity: a[t] an AR(1) latent process (rho 0.9) scaled by a non-stationary activity
  level m[t] (a slow sinusoid with random period plus random regime switches).
- normal events that look unusual: Poisson-timed short bumps along six shared "distractor"
  directions (crowds, lighting changes, passing vehicles), half-aligned with the generic anomaly
  direction, in normal and anomalous videos alike.
- anomalies: one or two annotated intervals per anomalous video; inside them a class signature
  along u_c = normalise(0.6 g + 0.8 r_c) (g shared by all anomalies, r_c per class) with a
  class strength and a per-video log-normal factor, in one of three temporal shapes: a level
  shift (Arrest, Arson, Burglary, Shoplifting, Stealing), a fast oscillation around a small
  shift (Abuse, Assault, Fighting, Robbery, Vandalism), or a burst decaying after its onset
  with a lasting aftermath (Explosion, RoadAccidents, Shooting).

Intervals are drawn in snippets, then given in 30 fps frames; each video's frame count ends
inside its last snippet, and the ground-truth pickle is built from the intervals.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ucfdvs.atomic import atomic_dir
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.ucf_classes import ANOMALY_CLASSES, FRAMES_PER_SNIPPET

# Per-class share of UCF-Crime-DVS's official splits (number of videos per class).
TRAIN_CLASS_COUNTS = dict(zip(ANOMALY_CLASSES, (48, 45, 41, 47, 87, 29, 45, 127, 145, 27, 29, 95, 45)))
TEST_CLASS_COUNTS = dict(zip(ANOMALY_CLASSES, (2, 5, 9, 3, 13, 21, 5, 23, 5, 23, 21, 5, 5)))

# Class -> (strength, temporal shape).
CLASS_SIGNATURES: dict[str, tuple[float, str]] = {
    "Abuse": (0.7, "oscillation"),
    "Arrest": (0.8, "shift"),
    "Arson": (1.0, "shift"),
    "Assault": (0.9, "oscillation"),
    "Burglary": (0.5, "shift"),
    "Explosion": (1.5, "burst"),
    "Fighting": (1.0, "oscillation"),
    "RoadAccidents": (1.2, "burst"),
    "Robbery": (0.8, "oscillation"),
    "Shooting": (1.0, "burst"),
    "Shoplifting": (0.35, "shift"),
    "Stealing": (0.45, "shift"),
    "Vandalism": (0.8, "oscillation"),
}
N_DISTRACTORS = 6


def check_split_config(config) -> None:
    """Refuse split sizes and lengths a synthetic dataset cannot have (shared by the feature and event generators)."""
    if config.n_train < 2 or config.n_test < 2:
        raise ValueError("each split needs at least 2 videos (one normal, one anomalous)")
    if not 0 < config.normal_fraction < 1:
        raise ValueError("normal_fraction must be in (0, 1)")
    if not 1 <= config.min_snippets <= config.max_snippets:
        raise ValueError("need 1 <= min_snippets <= max_snippets")


@dataclass(frozen=True)
class SyntheticFeatureConfig:
    """Size and difficulty of the synthetic feature dataset (snippets are 16 frames at 30 fps)."""

    n_train: int = 400
    n_test: int = 120
    normal_fraction: float = 0.5
    feature_dim: int = 256
    latent_dim: int = 32
    median_snippets: int = 120
    length_sigma: float = 0.6
    min_snippets: int = 24
    max_snippets: int = 600
    noise_std: float = 0.4
    scene_std: float = 0.5
    activity_scale: float = 0.5
    distractor_rate: float = 1 / 60
    distractor_strength: float = 1.0
    anomaly_strength: float = 4.0

    def __post_init__(self) -> None:
        check_split_config(self)


@dataclass
class SyntheticVideo:
    stem: str
    class_name: str
    features: np.ndarray  # [n_snippets, D] float32
    n_frames: int
    intervals: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in 30 fps frames

    def frame_labels(self) -> np.ndarray:
        labels = np.zeros(self.n_frames, dtype=np.uint8)
        for start, end in self.intervals:
            labels[start:end] = 1
        return labels


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def class_counts(total: int, shares: dict[str, int]) -> dict[str, int]:
    """Split `total` anomalous videos over the classes in proportion to `shares` (largest remainder, >= 1 each when possible)."""
    weights = np.array(list(shares.values()), dtype=np.float64)
    floor_each = 1 if total >= len(shares) else 0
    exact = floor_each + (total - floor_each * len(shares)) * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - counts))[: total - counts.sum()]:
        counts[index] += 1
    return dict(zip(shares, counts.tolist()))


class FeatureWorld:
    """The fixed parts of the generative model (projection, directions), drawn once per seed."""

    def __init__(self, config: SyntheticFeatureConfig, seed: int) -> None:
        rng = np.random.default_rng([seed, 0])
        k = config.latent_dim
        self.config = config
        self.projection = rng.normal(0, 1 / np.sqrt(k), (k, config.feature_dim))
        self.bias = rng.normal(-0.5, 0.3, config.feature_dim)
        generic = _unit(rng.normal(size=k))
        self.class_directions = {
            name: _unit(0.6 * generic + 0.8 * _unit(rng.normal(size=k))) for name in ANOMALY_CLASSES
        }
        self.distractors = _unit(0.5 * generic + 0.87 * _unit(rng.normal(size=(N_DISTRACTORS, k))))

    def _activity(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = self.config.latent_dim
        rho = 0.9
        shocks = rng.normal(size=(n, k)) * np.sqrt(1 - rho**2)
        process = np.zeros((n, k))
        process[0] = rng.normal(size=k)
        for t in range(1, n):
            process[t] = rho * process[t - 1] + shocks[t]
        period = rng.uniform(40, 200)
        level = 1 + 0.5 * np.sin(2 * np.pi * np.arange(n) / period + rng.uniform(0, 2 * np.pi))
        for switch in np.flatnonzero(rng.random(n) < 1 / 80):
            level[switch:] *= rng.uniform(0.6, 1.6)
        return self.config.activity_scale * level[:, None] * process

    def _distractor_events(self, n: int, rng: np.random.Generator) -> np.ndarray:
        latent = np.zeros((n, self.config.latent_dim))
        for onset in np.flatnonzero(rng.random(n) < self.config.distractor_rate):
            length = int(rng.integers(2, 13))
            shape = np.sin(np.linspace(0, np.pi, length + 2)[1:-1])
            direction = self.distractors[rng.integers(N_DISTRACTORS)]
            amplitude = self.config.distractor_strength * rng.lognormal(0, 0.3)
            end = min(n, onset + length)
            latent[onset:end] += amplitude * shape[: end - onset, None] * direction
        return latent

    def _anomaly(self, class_name: str, coverage: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Latent anomaly component `[n, K]` given each snippet's coverage by the intervals (0..1)."""
        strength, shape = CLASS_SIGNATURES[class_name]
        strength *= self.config.anomaly_strength * rng.lognormal(0, 0.35)
        n = len(coverage)
        envelope = coverage.copy()
        if shape == "oscillation":
            sign = np.where((np.arange(n) + rng.integers(2)) % 2 == 0, 1.0, -1.0)
            envelope = coverage * (0.35 + 1.2 * sign)
        elif shape == "burst":
            envelope = np.zeros(n)
            inside = coverage > 0
            onsets = np.flatnonzero(inside & ~np.r_[False, inside[:-1]])
            decay = rng.uniform(2, 8)
            for onset in onsets:
                after = np.arange(n - onset)
                envelope[onset:] += 1.8 * np.exp(-after / decay) + 0.4 * (after < np.count_nonzero(inside[onset:]))
            envelope *= np.maximum(coverage, 0.3 * (np.arange(n) >= onsets[0]))
        return strength * envelope[:, None] * self.class_directions[class_name]

    def video(self, stem: str, class_name: str, rng: np.random.Generator) -> SyntheticVideo:
        config = self.config
        n = int(np.clip(round(rng.lognormal(np.log(config.median_snippets), config.length_sigma)),
                        config.min_snippets, config.max_snippets))
        n_frames = FRAMES_PER_SNIPPET * (n - 1) + int(rng.integers(1, FRAMES_PER_SNIPPET + 1))
        latent = rng.normal(0, config.scene_std, config.latent_dim) + self._activity(n, rng) + self._distractor_events(n, rng)
        intervals: list[tuple[int, int]] = []
        if class_name != "Normal":
            intervals = self._intervals(n_frames, rng)
            labels = np.zeros(FRAMES_PER_SNIPPET * n)
            for start, end in intervals:
                labels[start:end] = 1
            coverage = labels.reshape(n, FRAMES_PER_SNIPPET).mean(axis=1)
            latent = latent + self._anomaly(class_name, coverage, rng)
        hidden = latent @ self.projection + self.bias + rng.normal(0, config.noise_std, (n, config.feature_dim))
        features = np.logaddexp(0, hidden).astype(np.float32)
        return SyntheticVideo(stem, class_name, features, n_frames, intervals)

    @staticmethod
    def _intervals(n_frames: int, rng: np.random.Generator) -> list[tuple[int, int]]:
        """One (75 %) or two anomalous intervals, each 8-35 % of the video and at least 3 snippets, not overlapping."""
        count = 1 if rng.random() < 0.75 else 2
        length = [max(3 * FRAMES_PER_SNIPPET, int(rng.uniform(0.08, 0.35) * n_frames / count)) for _ in range(count)]
        slack = n_frames - sum(length)
        if slack <= count:
            return [(0, n_frames)]
        cuts = np.sort(rng.integers(0, slack, count))
        offsets = np.cumsum([0] + length[:-1])
        intervals = [(int(cut + offset), int(cut + offset + size)) for cut, offset, size in zip(cuts, offsets, length)]
        return intervals


def _names(config: SyntheticFeatureConfig) -> dict[str, list[tuple[str, str]]]:
    """(stem, class) per split, with UCF-Crime-style names unique across splits."""
    splits: dict[str, list[tuple[str, str]]] = {}
    next_index = {name: 1 for name in ANOMALY_CLASSES}
    next_normal = 1
    for split, total, shares in (("train", config.n_train, TRAIN_CLASS_COUNTS), ("test", config.n_test, TEST_CLASS_COUNTS)):
        n_normal = min(total - 1, max(1, round(total * config.normal_fraction)))
        entries = []
        for name, count in class_counts(total - n_normal, shares).items():
            for _ in range(count):
                entries.append((f"{name}{next_index[name]:03d}_x264", name))
                next_index[name] += 1
        separator = "" if split == "train" else "_"
        for _ in range(n_normal):
            entries.append((f"Normal_Videos{separator}{next_normal:03d}_x264", "Normal"))
            next_normal += 1
        splits[split] = entries
    return splits


def generate(config: SyntheticFeatureConfig, seed: int) -> dict[str, list[SyntheticVideo]]:
    """All videos of both splits, deterministic for (config, seed)."""
    world = FeatureWorld(config, seed)
    result = {}
    for split_index, (split, entries) in enumerate(_names(config).items()):
        result[split] = [
            world.video(stem, class_name, np.random.default_rng([seed, 1 + split_index, i]))
            for i, (stem, class_name) in enumerate(entries)
        ]
    return result


def write_synthetic_features(
    root: str | Path, config: SyntheticFeatureConfig = SyntheticFeatureConfig(), seed: int = 0, force: bool = False
) -> dict[str, int]:
    """Generate and write a dataset in the official layout under `root` (all or nothing). Returns counts per split."""
    splits = generate(config, seed)
    with atomic_dir(root, force=force) as tmp:
        layout = FeatureLayout(tmp)
        layout.feature_dir.mkdir(parents=True)
        for split, videos in splits.items():
            for video in videos:
                np.save(layout.feature_path(video.stem), video.features)
            layout.split_path(split).write_text("".join(f"{v.stem}.npy\n" for v in videos))
        layout.gt_path.parent.mkdir(parents=True)
        # Unlike UCF-Crime's GT (test videos only), the training videos are annotated too, so that a
        # validation set carved from the training split is scored on frame labels.
        ground_truth = {v.stem: v.frame_labels() for videos in splits.values() for v in videos}
        with open(layout.gt_path, "wb") as handle:
            pickle.dump(ground_truth, handle, protocol=4)
        # Same columns as UCF-Crime's Temporal_Anomaly_Annotation.txt: inclusive frame numbers, -1 for none.
        annotation = "".join(
            f"{v.stem}  {v.class_name}  " + "  ".join(
                str(x) for start, end in v.intervals for x in (start, end - 1)
            ) + "  -1  -1" * (2 - len(v.intervals)) + "\n"
            for v in splits["test"]
        )
        (tmp / "Temporal_Anomaly_Annotation.txt").write_text(annotation)
    return {split: len(videos) for split, videos in splits.items()}
