"""UCF-Crime class structure and time base.

UCF-Crime-DVS keeps UCF-Crime's 14 classes (13 anomalies + Normal) and its video names
(`Fighting012_x264`, `Normal_Videos_003_x264`). One feature snippet covers 16 video frames at
30 fps; the DVS time base of one snippet is 16 x 33,333 us = 533,328 us.
"""

from __future__ import annotations

import re

ANOMALY_CLASSES: tuple[str, ...] = (
    "Abuse",
    "Arrest",
    "Arson",
    "Assault",
    "Burglary",
    "Explosion",
    "Fighting",
    "RoadAccidents",
    "Robbery",
    "Shooting",
    "Shoplifting",
    "Stealing",
    "Vandalism",
)
NORMAL_CLASS = "Normal"
FPS = 30
FRAMES_PER_SNIPPET = 16
FRAME_US = 33_333
SNIPPET_US = FRAMES_PER_SNIPPET * FRAME_US  # 533,328 us


def is_normal(stem: str) -> bool:
    """True for a normal video: its name starts with `Normal` (the official rule)."""
    return stem.startswith("Normal")


def class_of(stem: str) -> str:
    """The class of a video from its name: `Fighting012_x264` -> `Fighting`, normal -> `Normal`."""
    if is_normal(stem):
        return NORMAL_CLASS
    for name in ANOMALY_CLASSES:
        if stem.startswith(name):
            return name
    match = re.match(r"[A-Za-z]+", stem)
    return match.group(0) if match else stem
