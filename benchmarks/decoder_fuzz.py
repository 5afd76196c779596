"""Fuzz the RAW decoders: does a maintained library crash, or accept garbage where our decoder refuses the file?

Fuzz files (seeded): random 16-bit (EVT 3.0) or 32-bit (EVT 2.0) words after a valid header, and the two real
recordings with 1 to 40 random bytes of their data overwritten. Each file is decoded by our numpy decoder
(`engine="numpy"`, the oracle), by the default engine (`evt3` for EVT 3.0) and by `faery` (both encodings), and
the outcomes are compared:

- same: both decode, identical events;      both refuse: both raise `UserError`;
- library refuses: ours decodes, the library's output fails the checks (a wider wrap rule, see raw_libraries.py);
- accepts what ours refuses: the library returns events where ours raises (silent garbage);
- differs: both decode, different events (for evt3: "differs (reserved 0x1 word)" when the file holds one);
- crash: anything but `UserError` (a Rust panic, ...); faery's RuntimeError for a bad file counts as refusing.

    python -m ucfdvs.benchmarks.decoder_fuzz [--files-per-kind 75] [--out benchmarks/results/decoder_fuzz.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ucfdvs.benchmarks.environment import describe_machine, results_dir, save_results
from ucfdvs.errors import UserError
from ucfdvs.events import EVENT_DTYPE, StreamCheck, read_raw, read_raw_header

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = {"evt3": DATA / "prophesee_gen41_evt3_sample.raw", "evt2": DATA / "prophesee_gen3_evt2_sample.raw"}
HEADERS = {
    "evt3": b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n",
    "evt2": b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n",
}
KINDS = ("random_evt3", "random_evt2", "mutated_evt3", "mutated_evt2")


def write_fuzz_file(kind: str, seed: int, path: Path) -> None:
    """One fuzz file of `kind` (one of `KINDS`) from `seed`."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    encoding = kind[-4:]
    if kind.startswith("random"):
        n = int(rng.integers(1, 5000))
        bits, word = (16, "<u2") if encoding == "evt3" else (32, "<u4")
        path.write_bytes(HEADERS[encoding] + rng.integers(0, 1 << bits, n, dtype=np.uint64).astype(word).tobytes())
        return
    source = REAL[encoding]
    blob = bytearray(source.read_bytes())
    start = read_raw_header(source).data_offset
    for _ in range(int(rng.integers(1, 41))):
        blob[int(rng.integers(start, len(blob)))] = int(rng.integers(0, 256))
    path.write_bytes(bytes(blob))


def read_faery(path: Path) -> np.ndarray:
    """All events of a RAW file decoded by `faery`, checked like ours ([N] `EVENT_DTYPE`); the RuntimeError faery
    raises for a bad file (an address outside the sensor, ...) becomes a `UserError`."""
    from faery.extension import evt

    header = read_raw_header(path)
    check = StreamCheck(header.geometry, path)
    chunks = []
    try:
        with evt.Decoder(str(path), tuple(header.geometry), header.encoding) as decoder:
            for packet in decoder:
                raw = packet.get("events")
                if raw is None:
                    continue
                events = np.empty(raw.size, dtype=EVENT_DTYPE)
                events["t"], events["x"], events["y"] = raw["t"].view(np.int64), raw["x"], raw["y"]
                events["p"] = raw["on"]
                check(events)
                chunks.append(events)
    except RuntimeError as err:
        raise UserError(f"faery: {err}", path) from None
    check.finish()
    return np.concatenate(chunks)


def has_reserved_word(path: Path) -> bool:
    """Whether an EVT 3.0 file holds a type-0x1 word (reserved in the public specification; our decoder treats it
    as an EM row that hides the events after it, `evt3` skips it)."""
    words = np.frombuffer(path.read_bytes()[read_raw_header(path).data_offset:], dtype="<u2")
    return bool(np.any((words >> 12) == 1))


def _outcome(read) -> tuple[str, object]:
    try:
        return "ok", read()
    except UserError as err:
        return "error", str(err)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # Rust panics derive from BaseException
        return "crash", f"{type(err).__name__}: {err}"


def compare(ours: tuple[str, object], library: tuple[str, object]) -> str:
    """Category of a library's outcome against ours (see the module docstring)."""
    if library[0] == "crash":
        return "crash"
    if ours[0] == "ok" and library[0] == "ok":
        return "same" if np.array_equal(ours[1], library[1]) else "differs"
    if ours[0] == "error" and library[0] == "error":
        return "both refuse"
    return "library refuses" if ours[0] == "ok" else "accepts what ours refuses"


def fuzz(files_per_kind: int, folder: Path, with_faery: bool = True) -> dict[str, dict[str, dict[str, int]]]:
    """Counts of `compare` categories per library and fuzz kind, plus the slowest single decode (s)."""
    counts: dict[str, dict[str, Counter]] = {"evt3 engine": {}, "faery": {}}
    slowest = 0.0
    oracle_crashes = 0
    for kind in KINDS:
        for seed in range(files_per_kind):
            path = folder / f"{kind}_{seed}.raw"
            write_fuzz_file(kind, seed, path)
            ours = _outcome(lambda: read_raw(path, engine="numpy")[0])
            oracle_crashes += ours[0] == "crash"
            start = time.perf_counter()
            library = _outcome(lambda: read_raw(path)[0])
            slowest = max(slowest, time.perf_counter() - start)
            if kind.endswith("evt3"):
                category = compare(ours, library)
                if category == "differs" and has_reserved_word(path):
                    category = "differs (reserved 0x1 word)"
                counts["evt3 engine"].setdefault(kind, Counter())[category] += 1
            if with_faery:
                start = time.perf_counter()
                other = _outcome(lambda: read_faery(path))
                slowest = max(slowest, time.perf_counter() - start)
                counts["faery"].setdefault(kind, Counter())[compare(ours, other)] += 1
            path.unlink()
    return {"counts": {lib: {k: dict(c) for k, c in kinds.items()} for lib, kinds in counts.items()},
            "slowest_decode_s": slowest, "numpy_decoder_crashes": oracle_crashes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files-per-kind", type=int, default=75)
    parser.add_argument("--out", type=Path, default=results_dir() / "decoder_fuzz.json")
    args = parser.parse_args()
    if not all(path.is_file() for path in REAL.values()):
        raise SystemExit(f"needs the real recordings in {DATA}")
    with tempfile.TemporaryDirectory() as folder:
        results = fuzz(args.files_per_kind, Path(folder))
    results["files"] = args.files_per_kind * len(KINDS)
    results["machine"] = describe_machine()
    for library, kinds in results["counts"].items():
        for kind, categories in kinds.items():
            print(f"{library:12s} {kind:13s} {categories}")
    print(f"slowest decode {results['slowest_decode_s']:.3f} s; our numpy decoder crashed on "
          f"{results['numpy_decoder_crashes']} of {results['files']} files")
    save_results(args.out, results)


if __name__ == "__main__":
    main()
