"""Throughput of the event-data layer: RAW decoding and frame integration, against installed alternatives.

Decoding, all timed in one run on one core (the process pins itself to one CPU) and checked event by event:
our numpy decoder (`read_raw(engine="numpy")`, the oracle), the default engine (`read_raw`: `evt3` for EVT 3.0
with our conversion to `EVENT_DTYPE` and checks, our numpy decoder for EVT 2.0; "streamed": its `iter_raw`
chunks consumed one by one as `extract` does, without concatenating them into one array), the `evt3` and `faery`
libraries alone (their own arrays, no conversion or checks), and `expelliarmus` if it is importable.
Integration: `ucfdvs.events.frames_by_count` / `frames_by_duration` vs SpikingJelly's
`integrate_events_by_fixed_frames_number` / `integrate_events_by_fixed_duration`.
Inputs: the real recordings in ../shared/data (when present) and a synthetic stream (default 5 M events).

    python -m ucfdvs.benchmarks.event_throughput [--out benchmarks/results/event_throughput.json] [--events 10000000]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np


from ucfdvs.atomic import atomic_path
from ucfdvs.benchmarks.environment import results_dir
from ucfdvs.events import (
    EVENT_DTYPE,
    Geometry,
    frames_by_count,
    frames_by_duration,
    iter_raw,
    make_events,
    read_raw,
    read_raw_header,
    write_evt3,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
REAL_FILES = {
    "gen41_evt3": DATA / "prophesee_gen41_evt3_sample.raw",
    "gen3_evt2": DATA / "prophesee_gen3_evt2_sample.raw",
}


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of `repeats` calls, in seconds."""
    return best_times([fn], repeats)[0]


def best_times(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Smallest wall time (s) of each of `fns` over `repeats` rounds that call them in turn.

    Alternating the contenders exposes them to the same background load (shared cores).
    """
    times = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i] = min(times[i], time.perf_counter() - start)
    return times


def synthetic_events(n: int, geometry: Geometry, rate_hz: float, seed: int = 0) -> np.ndarray:
    """`n` time-sorted events at about `rate_hz` events/s with row bursts (so EVT 3.0 vectors occur)."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1e6 / rate_hz, n)).astype(np.int64)
    x = rng.integers(0, geometry.width, n)
    burst = rng.random(n) < 0.5
    x[1:][burst[1:]] = np.minimum(x[:-1][burst[1:]] + 1, geometry.width - 1)
    y = rng.integers(0, geometry.height, n)
    y[1:][burst[1:]] = y[:-1][burst[1:]]
    t[1:][burst[1:]] = t[:-1][burst[1:]]
    t = np.maximum.accumulate(t)
    return make_events(t, x, y, rng.integers(0, 2, n))


def write_evt2(path: Path, events: np.ndarray, geometry: Geometry) -> None:
    """Minimal EVT 2.0 encoder for the benchmark: one TIME_HIGH whenever t >> 6 changes, then CD words."""
    t = events["t"]
    high = t >> 6
    new_high = np.ones(t.size, dtype=bool)
    new_high[1:] = high[1:] != high[:-1]
    n_words = t.size + int(new_high.sum())
    words = np.empty(n_words, dtype="<u4")
    pos = np.arange(t.size) + np.cumsum(new_high)
    words[pos[new_high] - 1] = (np.uint32(0x8) << 28) | (high[new_high] & 0x0FFFFFFF).astype(np.uint32)
    words[pos] = (
        (events["p"].astype(np.uint32) << 28)
        | ((t & 0x3F).astype(np.uint32) << 22)
        | (events["x"].astype(np.uint32) << 11)
        | events["y"].astype(np.uint32)
    )
    header = f"% evt 2.0\n% format EVT2;height={geometry.height};width={geometry.width}\n% end\n".encode()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            words.tofile(f)


def expelliarmus_reader() -> Callable[[Path, str], np.ndarray] | None:
    try:
        from expelliarmus import Wizard  # type: ignore[import-not-found]
    except ImportError:
        return None

    def read(path: Path, encoding: str) -> np.ndarray:
        return Wizard(encoding=encoding, fpath=str(path)).read()

    return read


def evt3_alone(path: Path) -> tuple[np.ndarray, ...]:
    """The `evt3` package's own arrays (t uint64, x, y, p) of a whole EVT 3.0 file."""
    import evt3

    events = evt3.decode_file(str(path))
    return events.t, events.x, events.y, events.p


def faery_alone(path: Path, encoding: str) -> np.ndarray:
    """`faery`'s own event packets of a whole RAW file, concatenated (fields t, x, y, on)."""
    from faery.extension import evt

    geometry = read_raw_header(path).geometry
    with evt.Decoder(str(path), tuple(geometry), encoding) as decoder:
        return np.concatenate([packet["events"] for packet in decoder if "events" in packet])


def _same(events: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> bool:
    return bool(t.size == events.size and np.array_equal(t.astype(np.int64), events["t"])
                and np.array_equal(x, events["x"]) and np.array_equal(y, events["y"])
                and np.array_equal(p.astype(np.uint8), events["p"]))


def bench_decode(name: str, path: Path, encoding: str, repeats: int) -> dict:
    """M events/s of every decoder on one file, timed in alternating rounds, and whether each equals the oracle."""
    oracle, _ = read_raw(path, engine="numpy")
    contenders: dict[str, Callable[[], object]] = {
        "numpy": lambda: read_raw(path, engine="numpy"),
        "default_engine": lambda: read_raw(path),
        "default_engine_streamed": lambda: sum(chunk.size for chunk in iter_raw(path)),
        "faery_alone": lambda: faery_alone(path, encoding),
    }
    identical = {"default_engine": bool(np.array_equal(read_raw(path)[0], oracle))}
    got = faery_alone(path, encoding)
    identical["faery_alone"] = _same(oracle, got["t"], got["x"], got["y"], got["on"])
    if encoding == "evt3":
        contenders["evt3_alone"] = lambda: evt3_alone(path)
        identical["evt3_alone"] = _same(oracle, *evt3_alone(path))
    other = expelliarmus_reader()
    if other is not None:
        contenders["expelliarmus"] = lambda: other(path, encoding)
    seconds = dict(zip(contenders, best_times(list(contenders.values()), repeats)))
    row = {"input": name, "encoding": encoding, "events": int(oracle.size), "bytes": path.stat().st_size,
           "identical_to_numpy_decoder": identical}
    for key, value in seconds.items():
        row[f"{key}_seconds"] = value
        row[f"{key}_events_per_s"] = oracle.size / value
    return row


def bench_frames(name: str, events: np.ndarray, geometry: Geometry, repeats: int) -> list[dict]:
    """Frame integration: ours ([N] structured events -> float32) vs SpikingJelly (contiguous arrays -> float64).

    Full-resolution cases check that both outputs hold the same values (`np.array_equal`).
    """
    from spikingjelly.datasets import integrate_events_by_fixed_duration, integrate_events_by_fixed_frames_number

    as_dict = {k: np.ascontiguousarray(events[k]) for k in ("t", "x", "y", "p")}
    span = int(events["t"][-1] - events["t"][0])
    rows = []
    cases: list[tuple[str, Callable[[], np.ndarray], Callable[[], np.ndarray]]] = []
    for split_by in ("number", "time"):
        for frames in (16,):
            cases.append(
                (
                    f"split_by={split_by},T={frames}",
                    lambda s=split_by, f=frames: frames_by_count(events, f, geometry, s),
                    lambda s=split_by, f=frames: integrate_events_by_fixed_frames_number(
                        as_dict, s, f, geometry.height, geometry.width
                    ),
                )
            )
    duration = max(span // 16, 1)
    cases.append(
        (
            f"duration_us={duration}",
            lambda: frames_by_duration(events, geometry, duration),
            lambda: integrate_events_by_fixed_duration(as_dict, duration, geometry.height, geometry.width),
        )
    )
    for label, ours, theirs in cases:
        same = bool(np.array_equal(ours(), theirs()))
        a, b = best_times([ours, theirs], repeats)
        rows.append(
            {
                "input": name,
                "case": label,
                "events": int(events.size),
                "geometry": list(geometry),
                "identical_to_spikingjelly": same,
                "ucfdvs_seconds": a,
                "spikingjelly_seconds": b,
                "ucfdvs_events_per_s": events.size / a,
                "spikingjelly_events_per_s": events.size / b,
                "speedup": b / a,
            }
        )
    down = Geometry(max(geometry.width // 10, 1), max(geometry.height // 10, 1))
    a = best_time(lambda: frames_by_count(events, 16, geometry, "number", target_size=down), repeats)
    rows.append(
        {
            "input": name,
            "case": f"split_by=number,T=16,downsampled to {down.width}x{down.height}",
            "events": int(events.size),
            "ucfdvs_seconds": a,
            "ucfdvs_events_per_s": events.size / a,
        }
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=results_dir() / "event_throughput.json")
    parser.add_argument("--events", type=int, default=10_000_000, help="synthetic stream length")
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds per case (best is kept)")
    args = parser.parse_args(argv)
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    load_before = os.getloadavg()[0]

    decode_rows: list[dict] = []
    frame_rows: list[dict] = []
    for name, path in REAL_FILES.items():
        if not path.exists():
            print(f"skip {name}: {path} not found")
            continue
        encoding = "evt3" if "evt3" in name else "evt2"
        decode_rows.append(bench_decode(name, path, encoding, args.repeats))
        events, geometry = read_raw(path)
        frame_rows += bench_frames(name, events, geometry, args.repeats)

    geometry = Geometry(1280, 720)
    synthetic = synthetic_events(args.events, geometry, rate_hz=10e6)
    assert synthetic.dtype == EVENT_DTYPE
    with tempfile.TemporaryDirectory() as tmp:
        evt3_path = Path(tmp) / "synthetic_evt3.raw"
        evt2_path = Path(tmp) / "synthetic_evt2.raw"
        start = time.perf_counter()
        write_evt3(evt3_path, synthetic, geometry)
        write_seconds = time.perf_counter() - start
        write_evt2(evt2_path, synthetic, geometry)
        decode_rows.append(bench_decode(f"synthetic_{args.events}", evt3_path, "evt3", args.repeats))
        decode_rows[-1]["ucfdvs_evt3_write_events_per_s"] = synthetic.size / write_seconds
        decode_rows.append(bench_decode(f"synthetic_{args.events}", evt2_path, "evt2", args.repeats))
    frame_rows += bench_frames(f"synthetic_{args.events}", synthetic, geometry, args.repeats)

    result = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu": platform.processor(),
            "cpu_count": os.cpu_count(),
            "pinned_to_cpu": core,
            "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        },
        "method": (
            "wall time, best of --repeats; ours and SpikingJelly called in turn so both see the same background load. "
            "Frames: ours returns float32, SpikingJelly float64; identical_to_spikingjelly compares values."
        ),
        "decode": decode_rows,
        "frames": frame_rows,
    }
    for row in decode_rows:
        rates = "  ".join(f"{key[:-len('_events_per_s')]} {value / 1e6:6.1f}" for key, value in row.items()
                          if key.endswith("_events_per_s"))
        print(f"decode {row['input']:>18} {row['encoding']}: {row['events']:>9} ev, M ev/s: {rates}  "
              f"identical: {row['identical_to_numpy_decoder']}")
    for row in frame_rows:
        line = f"frames {row['input']:>18} {row['case']}: ucfdvs {row['ucfdvs_events_per_s'] / 1e6:7.1f} Mev/s"
        if "spikingjelly_events_per_s" in row:
            line += (
                f"  spikingjelly {row['spikingjelly_events_per_s'] / 1e6:7.1f} Mev/s  x{row['speedup']:.1f}"
                f"  identical={row['identical_to_spikingjelly']}"
            )
        print(line)
    full = [row["speedup"] for row in frame_rows if "speedup" in row]
    if full:
        print(f"frames vs SpikingJelly at full resolution: x{min(full):.1f} to x{max(full):.1f}")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
