"""Bounded-memory reading: npz members streamed in chunks, and snippet windows built chunk by chunk, against the
whole-recording paths (`np.load`, `binary_bins` + `snippet_windows`)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfdvs.errors import UserError
from ucfdvs.events import Geometry, iter_npz, make_events, read_npz, write_evt3, write_npz
from ucfdvs.train.extractor import BackboneConfig, SpikingBackbone, snippet_features
from ucfdvs.train.extractor.event_frames import SnippetWindows, binary_bins, snippet_windows, stream_snippet_windows
from ucfdvs.train.extractor.extract import video_features

GEO = Geometry(160, 90)
TINY = BackboneConfig(width=16, height=12, channels=(4, 8), feature_dim=8)


def recording(n: int = 20_000, seconds: float = 6.0, seed: int = 0, start_us: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(start_us, start_us + int(seconds * 1e6), n))
    return make_events(t, rng.integers(0, GEO.width, n), rng.integers(0, GEO.height, n), rng.integers(0, 2, n))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("chunk_events", [1, 777, 1 << 20])
def test_npz_stream_equals_whole_load(tmp_path: Path, compress: bool, chunk_events: int) -> None:
    events = recording(3000 if chunk_events == 1 else 20_000)
    path = tmp_path / "clip.npz"
    write_npz(path, events, GEO, compress=compress)
    chunks = list(iter_npz(path, GEO, chunk_events))
    assert all(len(c) <= chunk_events for c in chunks) and len(chunks) == -(-len(events) // chunk_events)
    assert np.array_equal(np.concatenate(chunks), events)
    with np.load(path) as data:
        assert all(np.array_equal(data[k], events[k]) for k in "txyp")


@pytest.mark.parametrize(
    "field, index, value, message",
    [
        ("t", 2500, -1, "event 2500: t decreases"),
        ("x", 1999, 160, "event 1999: x=160 outside width 160"),
        ("p", 4321, 7, "event 4321: polarity p=7 is not 0 or 1"),
    ],
)
def test_npz_errors_mid_stream_name_the_event(tmp_path: Path, field: str, index: int, value: int, message: str) -> None:
    arrays = {k: recording()[k].astype(np.int64) for k in "txyp"}
    arrays[field][index] = value
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **arrays)
    chunks = iter_npz(path, GEO, chunk_events=1000)
    first = next(chunks)
    assert len(first) == 1000
    with pytest.raises(UserError, match=rf"bad\.npz: {message}"):
        list(chunks)


def test_npz_corrupt_member_data_mid_stream(tmp_path: Path) -> None:
    events = recording(50_000)
    path = tmp_path / "c.npz"
    write_npz(path, events, GEO, compress=True)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("x.npy")
    blob = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    blob[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(blob))
    # Either inflating fails (zlib error, CRC mismatch) or the garbage it yields fails the event checks.
    with pytest.raises(UserError, match=r"c\.npz: (not a readable npz file \(after event \d+\)|event \d+: )") as err:
        list(iter_npz(path, GEO, chunk_events=1000))
    assert "\n" not in str(err.value)


def test_npz_member_of_wrong_shape_or_kind(tmp_path: Path) -> None:
    base = {k: recording(10)[k] for k in "txyp"}
    np.savez(tmp_path / "two_d.npz", **{**base, "x": base["x"].reshape(2, 5)})
    with pytest.raises(UserError, match=r"two_d\.npz: array 'x' must be 1-D"):
        read_npz(tmp_path / "two_d.npz", GEO)
    np.savez(tmp_path / "text.npz", **{**base, "y": np.array(list("abcdefghij"))})
    with pytest.raises(UserError, match=r"text\.npz: array 'y' has non-numeric dtype"):
        read_npz(tmp_path / "text.npz", GEO)
    np.savez(tmp_path / "cut.npz", **{**base, "p": base["p"][:9]})
    with pytest.raises(UserError, match=r"cut\.npz: arrays t, x, y, p have different lengths"):
        read_npz(tmp_path / "cut.npz", GEO)


def whole_windows(events: np.ndarray, n_snippets: int | None) -> np.ndarray:
    """The whole-recording path: snippet count, binary bins, then windows."""
    n = n_snippets or max(1, -(-(int(events["t"][-1]) + 1) // 533_328))
    bins = binary_bins(events, GEO, (TINY.width, TINY.height), TINY.frame_us, max(n * TINY.snippet_frames, TINY.frames))
    return snippet_windows(bins, n, TINY.snippet_frames, TINY.frames)


@pytest.mark.parametrize("n_snippets", [None, 3, 11, 20])
@pytest.mark.parametrize("chunk", [1, 97, 5000, 10**6])
def test_streamed_windows_equal_whole_recording(n_snippets: int | None, chunk: int) -> None:
    events = recording(4000 if chunk == 1 else 20_000)
    events = events[(events["t"] < 1_000_000) | (events["t"] > 3_200_000)]  # a gap of several empty snippets
    windows = SnippetWindows(GEO, Geometry(TINY.width, TINY.height), TINY.frame_us, TINY.snippet_frames, TINY.frames,
                             n_snippets)
    streamed = list(stream_snippet_windows((events[i:i + chunk] for i in range(0, len(events), chunk)), windows))
    expected = whole_windows(events, n_snippets)
    assert len(streamed) == len(expected) and np.array_equal(np.stack(streamed), expected)
    assert windows.events == len(events) and len(windows.bins) <= TINY.frames + (len(events) if chunk > 1 else 1)


def test_video_features_streamed_equal_whole_path(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SpikingBackbone(TINY).eval()
    events = recording(60_000, seconds=9.0, start_us=0)
    npz, raw = tmp_path / "v.npz", tmp_path / "v.raw"
    write_npz(npz, events, GEO)
    write_evt3(raw, events, GEO)
    expected = snippet_features(model, whole_windows(events, None))
    for path in (npz, raw):
        features, n_events = video_features(model, path, GEO, None)
        assert n_events == len(events) and np.array_equal(features, expected)
    features, _ = video_features(model, npz, GEO, 16 * 5)
    assert np.array_equal(features, snippet_features(model, whole_windows(events, 5)))


def test_recording_without_events_is_an_error_in_both_forms(tmp_path: Path) -> None:
    model = SpikingBackbone(TINY).eval()
    raw = tmp_path / "empty.raw"
    raw.write_bytes(b"% evt 3.0\n% format EVT3;height=90;width=160\n% end\n" + np.array([0x8001, 0x6002], "<u2").tobytes())
    with pytest.raises(UserError, match=r"empty\.raw: no events in file"):
        video_features(model, raw, GEO, None)
    npz = tmp_path / "empty.npz"
    np.savez(npz, **{k: np.zeros(0, dtype=np.int64) for k in "txyp"})
    with pytest.raises(UserError, match=r"empty\.npz: no events"):
        video_features(model, npz, GEO, None)
