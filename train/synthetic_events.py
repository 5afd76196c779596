"""A deterministic synthetic UCF-Crime-DVS event dataset: rendered scenes through a simulated DVS.

Written under ROOT (all or nothing):

    ROOT/events/<Video>_x264.npz          t (int64 us), x, y (uint16), p (uint8) as the official release
    ROOT/raw/<Video>_x264.raw             the same events as Prophesee EVT 3.0 RAW
    ROOT/train_split.txt, test_split.txt  `<Video>_x264.npy` per line (the feature layout's split files)
    ROOT/GT/gt-ucf-dic.pickle             per-frame 0/1 labels at 30 fps of every video (UCF-Crime's: test only)
    ROOT/Temporal_Anomaly_Annotation.txt  UCF-Crime's columns for the test videos (inclusive frames, -1 = none)
    ROOT/synthetic_intervals.json         class, split, frame count and intervals of every video (train too;
                                          synthetic-only, used to pretrain the feature extractor)
    ROOT/events_info.json                 sensor geometry, render rate, seed and configuration

The official release's event folder layout is not documented here, so `events/` and `raw/` are this
toolkit's convention. Geometry is 64x36 by default (1280x720 / 20, the IMX636's aspect ratio and the
extractor's input size, so no pixel is simulated only to be pooled away); scenes are rendered at 30
frames/s and the DVS model (`train.dvs_simulator`) interpolates event times between rendered frames.
Names, split proportions and intervals follow `train.synthetic_features`; the scenes' generative model
(activity regimes, joggers, anomalies that build up and fade) is in `train.synthetic_scenes`.

Video lengths are log-normal in snippets, shaped like UCF-Crime's (long-tailed, tens to hundreds of
snippets) but shorter so that `make demo` fits on two cores: median 40 snippets (21 s), sigma 0.6,
clipped to 12-240 (UCF-Crime's videos last 242 s = about 450 snippets on average).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ucfdvs.atomic import atomic_dir
from ucfdvs.train.dvs_simulator import DVSConfig, DVSSimulator
from ucfdvs.errors import UserError
from ucfdvs.events import EVENT_DTYPE, Geometry, write_evt3, write_npz
from ucfdvs.train.layout import FeatureLayout
from ucfdvs.train.synthetic_features import FeatureWorld, SyntheticFeatureConfig, _names, check_split_config
from ucfdvs.train.synthetic_scenes import build_scene
from ucfdvs.train.ucf_classes import FRAME_US, FRAMES_PER_SNIPPET, NORMAL_CLASS

logger = logging.getLogger(__name__)

INFO_FILE = "events_info.json"
INTERVALS_FILE = "synthetic_intervals.json"
RENDER_CHUNK = 64


@dataclass(frozen=True)
class SyntheticEventConfig:
    """Size of the synthetic event dataset; snippets are 16 frames at 30 fps (533,328 us)."""

    n_train: int = 120
    n_test: int = 40
    normal_fraction: float = 0.5
    width: int = 64
    height: int = 36
    fps: float = 30.0
    median_snippets: int = 40
    length_sigma: float = 0.6
    min_snippets: int = 12
    max_snippets: int = 240
    dvs: DVSConfig = field(default_factory=DVSConfig)

    def __post_init__(self) -> None:
        check_split_config(self)
        if self.width < 8 or self.height < 8 or self.fps <= 0:
            raise ValueError("need width, height >= 8 and fps > 0")

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.width, self.height)


SMALL_CONFIG = SyntheticEventConfig(
    n_train=8, n_test=6, width=80, height=45, fps=30.0, median_snippets=4, min_snippets=4, max_snippets=6
)
"""The `--small` set: 14 videos of 4-6 snippets at 80x45, for tests and quick looks."""


@dataclass
class SyntheticRecording:
    """One synthetic video: its events [N] `EVENT_DTYPE`, frame count at 30 fps and intervals [start, end) in frames."""

    stem: str
    class_name: str
    split: str
    n_frames: int
    intervals: list[tuple[int, int]]
    events: np.ndarray

    def frame_labels(self) -> np.ndarray:
        """Per-frame 0/1 labels [n_frames] uint8."""
        labels = np.zeros(self.n_frames, dtype=np.uint8)
        for start, end in self.intervals:
            labels[start:end] = 1
        return labels


def simulate_scene_events(config: SyntheticEventConfig, class_name: str, n_frames: int,
                          intervals: list[tuple[int, int]], rng: np.random.Generator,
                          window: tuple[int, int] | None = None) -> np.ndarray:
    """Events [N] of one video of `n_frames` 30 fps frames, sorted by (t, y, p, x); t in [0, n_frames * 33,333) us.

    With `window` = (start, stop) in 30 fps frames, only that part of the scene is rendered and simulated: the
    sensor starts at rest at the last rendered frame at or before `start` and runs to the first one at or after
    `stop`; t is relative to `start` and the events kept are those in [0, (stop - start) * 33,333) us.
    """
    duration_us = n_frames * FRAME_US
    intervals_s = [(start * FRAME_US * 1e-6, end * FRAME_US * 1e-6) for start, end in intervals]
    scene = build_scene(config.geometry, (duration_us - 1) * 1e-6, config.fps, class_name, intervals_s, rng)
    stamps = np.round(scene.times * 1e6).astype(np.int64)
    origin, first, last = 0, 0, stamps.size
    if window is not None:
        origin, end = window[0] * FRAME_US, window[1] * FRAME_US
        first = max(int(np.searchsorted(stamps, origin, side="right")) - 1, 0)
        last = min(int(np.searchsorted(stamps, end, side="left")) + 1, stamps.size)
    simulator = DVSSimulator(config.geometry, config.dvs, rng)
    chunks = []
    for start in range(first, last, RENDER_CHUNK):
        frames = scene.render(start, min(start + RENDER_CHUNK, last))
        for offset, frame in enumerate(frames):
            t = int(stamps[start + offset]) - origin
            if start + offset == first:
                simulator.reset(frame, t)
            else:
                chunks.append(simulator.step(frame, t))
    events = np.concatenate(chunks) if chunks else np.zeros(0, dtype=EVENT_DTYPE)
    if window is not None:
        events = events[(events["t"] >= 0) & (events["t"] < end - origin)]
    return events


def video_length(config: SyntheticEventConfig, rng: np.random.Generator) -> int:
    """Frames at 30 fps: n snippets (log-normal, clipped), the last one partly filled."""
    n = int(np.clip(round(rng.lognormal(np.log(config.median_snippets), config.length_sigma)),
                    config.min_snippets, config.max_snippets))
    return FRAMES_PER_SNIPPET * (n - 1) + int(rng.integers(1, FRAMES_PER_SNIPPET + 1))


def recording(config: SyntheticEventConfig, seed: int, split: str, index: int, stem: str, class_name: str) -> SyntheticRecording:
    """The `index`-th video of `split`: deterministic for (config, seed, split, index)."""
    rng = np.random.default_rng([seed, 11 + ("train", "test").index(split), index])
    n_frames = video_length(config, rng)
    intervals = [] if class_name == NORMAL_CLASS else FeatureWorld._intervals(n_frames, rng)
    events = simulate_scene_events(config, class_name, n_frames, intervals, rng)
    return SyntheticRecording(stem, class_name, split, n_frames, intervals, events)


def video_names(config: SyntheticEventConfig) -> dict[str, list[tuple[str, str]]]:
    """(stem, class) per split, UCF-Crime-style and with the official class proportions (as the feature set)."""
    return _names(SyntheticFeatureConfig(n_train=config.n_train, n_test=config.n_test,
                                         normal_fraction=config.normal_fraction))


def _annotation_line(video: SyntheticRecording) -> str:
    """One line of UCF-Crime's Temporal_Anomaly_Annotation.txt: inclusive frame numbers, -1 for none."""
    numbers = [str(x) for start, end in video.intervals for x in (start, end - 1)]
    numbers += ["-1", "-1"] * (2 - len(video.intervals))
    return f"{video.stem}  {video.class_name}  " + "  ".join(numbers) + "\n"


def write_synthetic_events(root: str | Path, config: SyntheticEventConfig = SyntheticEventConfig(), seed: int = 0,
                           force: bool = False, progress: bool = True) -> dict[str, float]:
    """Generate and write the event dataset under `root` (layout in the module docstring).

    Returns counts: videos per split, total events, seconds spent and events/s of the generation alone.
    """
    names = video_names(config)
    geometry = config.geometry
    summary: dict[str, float] = {"train": len(names["train"]), "test": len(names["test"]), "events": 0}
    simulate_seconds = 0.0
    started = time.perf_counter()
    with atomic_dir(root, force=force) as tmp:
        (tmp / "events").mkdir()
        (tmp / "raw").mkdir()
        layout = FeatureLayout(tmp)
        videos: dict[str, list[SyntheticRecording]] = {"train": [], "test": []}
        jobs = [(split, i, stem, cls) for split in ("train", "test") for i, (stem, cls) in enumerate(names[split])]
        for split, index, stem, class_name in tqdm(jobs, desc="synth-events", unit="video", disable=not progress):
            tick = time.perf_counter()
            video = recording(config, seed, split, index, stem, class_name)
            simulate_seconds += time.perf_counter() - tick
            if video.events.size == 0:
                raise UserError(f"video {stem} produced no events", root)
            write_npz(tmp / "events" / f"{stem}.npz", video.events, geometry)
            write_evt3(tmp / "raw" / f"{stem}.raw", video.events, geometry)
            summary["events"] += int(video.events.size)
            videos[split].append(video)
            video.events = np.zeros(0, dtype=EVENT_DTYPE)
        for split, items in videos.items():
            layout.split_path(split).write_text("".join(f"{v.stem}.npy\n" for v in items))
        layout.gt_path.parent.mkdir(parents=True)
        with open(layout.gt_path, "wb") as handle:
            pickle.dump({v.stem: v.frame_labels() for items in videos.values() for v in items}, handle, protocol=4)
        (tmp / "Temporal_Anomaly_Annotation.txt").write_text("".join(_annotation_line(v) for v in videos["test"]))
        intervals = {v.stem: {"class": v.class_name, "split": v.split, "n_frames": v.n_frames,
                              "intervals": [list(i) for i in v.intervals]} for items in videos.values() for v in items}
        (tmp / INTERVALS_FILE).write_text(json.dumps(intervals, indent=1))
        info = {"geometry": list(geometry), "seed": seed, "config": asdict(config), "frame_us": FRAME_US,
                "event_files": "events/<Video>_x264.npz and raw/<Video>_x264.raw"}
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
    summary["seconds"] = time.perf_counter() - started
    summary["events_per_second"] = summary["events"] / max(simulate_seconds, 1e-9)
    logger.info("wrote %d videos, %d events in %.1f s", len(jobs), summary["events"], summary["seconds"])
    return summary


def read_geometry(root: str | Path) -> Geometry:
    """The sensor size of an event dataset: from ROOT/events_info.json, else the IMX636's 1280x720."""
    path = Path(root) / INFO_FILE
    if not path.is_file():
        return Geometry(1280, 720)
    try:
        width, height = json.loads(path.read_text())["geometry"]
        return Geometry(int(width), int(height))
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"not a valid events_info.json ({err})", path) from None
