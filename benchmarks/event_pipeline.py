"""End to end on a full-length synthetic recording: RAW (EVT 3.0) -> frames -> features, npz -> frames -> features.

A 1280x720 recording of `--seconds` (default 242 s, the release's mean length) at `--rate` events/s (default
1.5 M) is generated one second at a time (seeded; times uniform within each second, so many events share a
microsecond as in real recordings) and written as EVT 3.0 (`Evt3Writer`) and as an uncompressed npz (its
t, x, y, p members streamed one after another), never whole in memory. Each file then goes through
`video_features`, the per-video path of `ucfdvs extract` (streamed decoding or npz reading, snippet windows,
the default-size backbone with random weights, one torch thread), in a fresh process that reports its wall
time, its resident memory before the recording (imports and model) and its peak (ru_maxrss). The same is done
at `--short-seconds` (default 60 s), to show that memory does not grow with the recording's length.

    python -m ucfdvs.benchmarks.event_pipeline [--seconds 242] [--short-seconds 60] [--rate 1.5e6]
        [--workdir DIR] [--out benchmarks/results/event_pipeline.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.events import EVENT_DTYPE, IMX636_GEOMETRY, Evt3Writer

CHUNK_US = 1_000_000
FIELDS = ("t", "x", "y", "p")


def field_chunk(second: int, field: str, rate: float, seed: int = 0) -> np.ndarray:
    """One field of second `second` of the synthetic recording: t sorted in [second, second + 1) s (us, int64),
    x in [0, 1280), y in [0, 720) (uint16), p in {0, 1} (uint8); each field from its own seeded stream."""
    n = int(round(rate * CHUNK_US / 1e6))
    rng = np.random.default_rng([seed, second, FIELDS.index(field)])
    if field == "t":
        return np.sort(rng.integers(0, CHUNK_US, n)) + second * CHUNK_US
    high = {"x": IMX636_GEOMETRY.width, "y": IMX636_GEOMETRY.height, "p": 2}[field]
    return rng.integers(0, high, n).astype(EVENT_DTYPE[field])


def events_chunk(second: int, rate: float) -> np.ndarray:
    events = np.empty(int(round(rate * CHUNK_US / 1e6)), dtype=EVENT_DTYPE)
    for field in FIELDS:
        events[field] = field_chunk(second, field, rate)
    return events


def write_recording(folder: Path, seconds: int, rate: float) -> tuple[Path, Path, int]:
    """Write the recording as folder/rec_<seconds>s.raw and .npz; returns both paths and the event count."""
    raw, npz = folder / f"rec_{seconds}s.raw", folder / f"rec_{seconds}s.npz"
    with Evt3Writer(raw, IMX636_GEOMETRY) as writer:
        for second in range(seconds):
            writer.write(events_chunk(second, rate))
    n = seconds * int(round(rate * CHUNK_US / 1e6))
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for field in FIELDS:
            dtype = EVENT_DTYPE[field]
            with archive.open(f"{field}.npy", "w", force_zip64=True) as member:
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
                np.lib.format.write_array_header_1_0(member, header)
                for second in range(seconds):
                    member.write(field_chunk(second, field, rate).astype(dtype).tobytes())
    return raw, npz, n


def measure(path: str) -> None:
    """Run `video_features` on one recording and print JSON: events, snippets, seconds, RSS before and peak (MB)."""
    import torch

    from ucfdvs.train.extractor.extract import default_backbone, video_features

    torch.set_num_threads(1)
    model = default_backbone()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    features, events = video_features(model, Path(path), IMX636_GEOMETRY, None)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": events, "snippets": int(len(features)), "seconds": seconds,
                      "rss_before_mb": before, "peak_rss_mb": peak}))


def run_measure(path: Path) -> dict:
    code = f"from ucfdvs.benchmarks.event_pipeline import measure; measure({str(path)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=242)
    parser.add_argument("--short-seconds", type=int, default=60)
    parser.add_argument("--rate", type=float, default=1.5e6, help="events per second of recording")
    parser.add_argument("--workdir", type=Path, help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=results_dir() / "event_pipeline.json")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ucfdvs-pipeline-", dir=args.workdir))
    rows = []
    try:
        for seconds in (args.short_seconds, args.seconds):
            start = time.perf_counter()
            raw, npz, n = write_recording(folder, seconds, args.rate)
            written = time.perf_counter() - start
            for kind, path in (("raw_evt3", raw), ("npz", npz)):
                row = {"input": kind, "recording_seconds": seconds, "file_bytes": path.stat().st_size,
                       "write_seconds_both_files": written, **run_measure(path)}
                assert row["events"] == n
                row["events_per_second"] = row["events"] / row["seconds"]
                rows.append(row)
                print(f"{kind:8s} {seconds:4d} s  {n / 1e6:6.1f} M events  {row['file_bytes'] / 1e9:5.2f} GB  "
                      f"{row['events_per_second'] / 1e6:5.1f} M ev/s end to end  {row['snippets']} snippets  "
                      f"RSS {row['rss_before_mb']:.0f} MB before, {row['peak_rss_mb']:.0f} MB peak", flush=True)
            raw.unlink()
            npz.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    save_results(args.out, {"rows": rows, "rate_events_per_s": args.rate, "geometry": list(IMX636_GEOMETRY),
                            "machine": describe_machine()})
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
