"""Prophesee RAW reading (EVT 3.0, EVT 2.0) and the EVT 3.0 writer.

The vectorised decoders are checked against straightforward word-by-word decoders written here from the
Prophesee format specification (with OpenEB's rules for the first TIME_HIGH, wraps and time shift), on the two
real recordings and on hand-made word streams. The pinned numbers for the real files were also cross-checked
against expelliarmus 1.1.12 (same count, x, y, p on both files; same t on the EVT 2.0 file; its EVT 3.0 times are
wrong: it counts every decrease of TIME_LOW as a wrap, and the Gen4.1 file has back-to-back TIME_LOW words).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ucfdvs.errors import UserError
from ucfdvs.events import Geometry, evt3_writer, iter_raw, make_events, read_raw, read_raw_header, write_evt3

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EVT3_FILE = DATA / "prophesee_gen41_evt3_sample.raw"
EVT2_FILE = DATA / "prophesee_gen3_evt2_sample.raw"

EVT3_HEADER = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n"
EVT2_HEADER = b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n"


def _data_start(blob: bytes) -> int:
    pos = 0
    while blob[pos : pos + 1] == b"%":
        end = blob.index(b"\n", pos) + 1
        line, pos = blob[pos:end], end
        if line.strip() == b"% end":
            break
    return pos


def reference_evt3(path: Path, time_shift: bool = False) -> np.ndarray:
    """Word-by-word EVT 3.0 decoder, [N, 4] int64 rows (t, x, y, p)."""
    blob = path.read_bytes()
    words = np.frombuffer(blob[_data_start(blob) :], dtype="<u2").tolist()
    out = []
    started, high, low, loop, y, cd, base, base_p, shift = False, 0, 0, 0, None, True, None, 0, 0
    for word in words:
        kind, payload = word >> 12, word & 0xFFF
        if not started:
            if kind != 0x8:
                continue
            started, high = True, max(payload - 1, 0)
            shift = high << 12 if time_shift else 0
        t = (loop << 24) | (high << 12) | low
        if kind == 0x8:
            if high >= payload + 2048:
                loop += 1
            if payload != high:
                low = 0
            high = payload
        elif kind == 0x6:
            low = payload
        elif kind in (0x0, 0x1):
            y, cd = payload & 0x7FF, kind == 0x0
        elif kind == 0x3:
            base, base_p = payload & 0x7FF, payload >> 11
        elif kind == 0x2:
            if y is not None and cd:
                out.append((t, payload & 0x7FF, y, payload >> 11))
        elif kind in (0x4, 0x5):
            n = 12 if kind == 0x4 else 8
            if base is not None:
                for k in range(n):
                    if payload >> k & 1 and y is not None and cd:
                        out.append((t, base + k, y, base_p))
                base += n
    rows = np.array(out, dtype=np.int64).reshape(-1, 4)
    rows[:, 0] -= shift
    return rows


def reference_evt2(path: Path, time_shift: bool = False) -> np.ndarray:
    """Word-by-word EVT 2.0 decoder, [N, 4] int64 rows (t, x, y, p)."""
    blob = path.read_bytes()
    words = np.frombuffer(blob[_data_start(blob) :], dtype="<u4").tolist()
    out = []
    started, high, loop, shift = False, 0, 0, 0
    for word in words:
        kind = word >> 28
        if not started:
            if kind != 0x8:
                continue
            started, high = True, word & 0x0FFFFFFF
            shift = high << 6 if time_shift else 0
        if kind == 0x8:
            new = word & 0x0FFFFFFF
            if (high - new) << 6 >= (((1 << 28) - 1) << 6) - 10_000:
                loop += 1
            high = new
        elif kind in (0x0, 0x1):
            t = (loop << 34) + (high << 6) + (word >> 22 & 0x3F)
            out.append((t, word >> 11 & 0x7FF, word & 0x7FF, kind))
    rows = np.array(out, dtype=np.int64).reshape(-1, 4)
    rows[:, 0] -= shift
    return rows


def as_rows(events: np.ndarray) -> np.ndarray:
    return np.stack([events[k].astype(np.int64) for k in ("t", "x", "y", "p")], axis=1)


def write_words(path: Path, header: bytes, words: list[int], dtype: str = "<u2") -> Path:
    path.write_bytes(header + np.asarray(words, dtype=dtype).tobytes())
    return path


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")


# Real recordings --------------------------------------------------------------------------------------------

REAL = {
    # name: (events, t_first, t_last, t_first shifted, t_last shifted, x range, y range, (p=0, p=1) counts)
    "evt3": (219_596, 11_718_656, 11_727_457, 4_096, 12_897, (0, 1279), (0, 719), (104_064, 115_532)),
    "evt2": (539_481, 1_317_888, 1_367_888, 0, 50_000, (60, 599), (18, 475), (171_626, 367_855)),
}


@pytest.mark.parametrize("name", ["evt3", "evt2"])
def test_real_recording_numbers(name: str) -> None:
    path = EVT3_FILE if name == "evt3" else EVT2_FILE
    needs(path)
    n, t0, t1, s0, s1, xr, yr, pol = REAL[name]
    events, geometry = read_raw(path)
    assert geometry == (Geometry(1280, 720) if name == "evt3" else Geometry(640, 480))
    assert events.size == n
    assert (int(events["t"][0]), int(events["t"][-1])) == (t0, t1)
    assert (int(events["x"].min()), int(events["x"].max())) == xr
    assert (int(events["y"].min()), int(events["y"].max())) == yr
    assert tuple(np.bincount(events["p"], minlength=2).tolist()) == pol
    assert np.all(np.diff(events["t"]) >= 0)
    shifted, _ = read_raw(path, time_shift=True)
    assert (int(shifted["t"][0]), int(shifted["t"][-1])) == (s0, s1)
    assert np.array_equal(shifted["t"], events["t"] - (t0 - s0))


@pytest.mark.parametrize("name", ["evt3", "evt2"])
def test_real_recording_matches_word_by_word_reference(name: str) -> None:
    path = EVT3_FILE if name == "evt3" else EVT2_FILE
    needs(path)
    reference = (reference_evt3 if name == "evt3" else reference_evt2)(path, time_shift=True)
    shifted, _ = read_raw(path, time_shift=True)
    assert np.array_equal(as_rows(shifted), reference)
    events, _ = read_raw(path)
    shift = REAL[name][1] - REAL[name][3]
    assert np.array_equal(as_rows(events)[:, 1:], reference[:, 1:])
    assert np.array_equal(events["t"], reference[:, 0] + shift)


@pytest.mark.parametrize("chunk_words", [5, 333, 4097])
def test_chunking_does_not_change_events(chunk_words: int) -> None:
    needs(EVT3_FILE)
    whole, _ = read_raw(EVT3_FILE)
    prefix = np.concatenate(
        [c for _, c in zip(range(2000 // chunk_words + 1), iter_raw(EVT3_FILE, chunk_words=chunk_words))]
    )
    assert np.array_equal(prefix, whole[: prefix.size]) and prefix.size > 0
    if chunk_words >= 4097:
        assert np.array_equal(np.concatenate(list(iter_raw(EVT3_FILE, chunk_words=chunk_words))), whole)


def open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors point at `path`."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += Path(fd.readlink()) == path.resolve()
        except OSError:
            continue
    return count


@pytest.mark.parametrize("engine", ["library", "numpy"])
def test_stopping_early_closes_the_file(engine: str) -> None:
    needs(EVT3_FILE)
    batches = iter_raw(EVT3_FILE, engine=engine)
    next(batches)
    assert open_descriptors(EVT3_FILE) == 1
    batches.close()
    assert open_descriptors(EVT3_FILE) == 0


def test_real_headers() -> None:
    needs(EVT3_FILE)
    header = read_raw_header(EVT3_FILE)
    assert (header.encoding, header.geometry, header.data_offset) == ("evt3", Geometry(1280, 720), 166)
    assert header.fields["plugin_name"] == "hal_plugin_gen41_evk3"
    needs(EVT2_FILE)
    header = read_raw_header(EVT2_FILE)
    assert (header.encoding, header.geometry, header.data_offset) == ("evt2", Geometry(640, 480), 164)


# Hand-made EVT 3.0 streams -----------------------------------------------------------------------------------


def TH(v: int) -> int:
    return 0x8000 | v


def TL(v: int) -> int:
    return 0x6000 | v


def Y(v: int) -> int:
    return 0x0000 | v


def X(v: int, p: int = 0) -> int:
    return 0x2000 | p << 11 | v


def BASE(v: int, p: int = 0) -> int:
    return 0x3000 | p << 11 | v


def V12(mask: int) -> int:
    return 0x4000 | mask


def V8(mask: int) -> int:
    return 0x5000 | mask


def decode3(tmp_path: Path, words: list[int], library: bool = True, **kwargs: object) -> np.ndarray:
    """Rows of the numpy decoder, checked against the word-by-word reference at several chunk sizes and (with
    `library`) against the `evt3` engine."""
    path = write_words(tmp_path / "s.raw", EVT3_HEADER, words)
    events, _ = read_raw(path, engine="numpy", **kwargs)
    assert np.array_equal(as_rows(events), reference_evt3(path, bool(kwargs.get("time_shift", False))))
    for chunk_words in (1, 2, 3):
        chunks = iter_raw(path, chunk_words=chunk_words, engine="numpy", **kwargs)
        assert np.array_equal(np.concatenate(list(chunks)), events)
    if library:
        assert np.array_equal(read_raw(path, **kwargs)[0], events)
    return as_rows(events)


def test_evt3_vectors_advance_base(tmp_path: Path) -> None:
    rows = decode3(tmp_path, [TH(0), TL(9), Y(7), BASE(100, 1), V12(0b101), V12(0x800), V8(0x81), X(5)])
    assert rows[:, 1].tolist() == [100, 102, 123, 124, 131, 5]
    assert rows[:, 3].tolist() == [1, 1, 1, 1, 1, 0]
    assert set(rows[:, 2].tolist()) == {7} and set(rows[:, 0].tolist()) == {9}


def test_evt3_words_before_first_time_high_are_dropped(tmp_path: Path) -> None:
    rows = decode3(tmp_path, [Y(1), X(5), TL(3), TH(1), TL(3), Y(2), X(6)])
    assert rows.tolist() == [[(1 << 12) + 3, 6, 2, 0]]


def test_evt3_time_high_change_resets_low_and_wraps(tmp_path: Path) -> None:
    words = [TH(4094), TL(4000), Y(1), X(1), TH(4095), X(2), TL(7), X(3), TH(0), TL(5), X(4), TH(2048), X(5)]
    words += [TH(0), TL(1), X(6)]
    rows = decode3(tmp_path, words, library=False)
    expected = [4094 << 12 | 4000, 4095 << 12, 4095 << 12 | 7, 1 << 24 | 5, 1 << 24 | 2048 << 12, 2 << 24 | 1]
    assert rows[:, 0].tolist() == expected
    # evt3 counts a TIME_HIGH drop of exactly 2048 as time going back, not as a wrap (OpenEB: >= 2048 wraps);
    # real recordings only wrap from 4095 to 0. The library engine then refuses the file.
    with pytest.raises(UserError, match=r"s\.raw: event 5: t decreases"):
        read_raw(tmp_path / "s.raw")
    assert np.array_equal(read_raw(tmp_path / "s.raw", engine="numpy")[0][:5], read_raw(
        write_words(tmp_path / "head.raw", EVT3_HEADER, words[:13]))[0])


def test_evt3_time_shift_definition(tmp_path: Path) -> None:
    rows = decode3(tmp_path, [TH(10), TL(3), Y(0), X(0), TH(11), TL(0), X(1)], time_shift=True)
    assert rows[:, 0].tolist() == [4096 + 3, 8192]
    rows = decode3(tmp_path, [TH(0), TL(3), Y(0), X(0)], time_shift=True)
    assert rows[:, 0].tolist() == [3]


def test_evt3_em_rows_and_other_words_are_skipped(tmp_path: Path) -> None:
    words = [TH(0), TL(0), 0x1000 | 5, X(3), 0xA001, 0xE014, 0xF123, 0xF456, 0x7001, Y(4), X(5)]
    assert decode3(tmp_path, words, library=False).tolist() == [[0, 5, 4, 0]]
    # evt3 skips the type-0x1 word (reserved in Prophesee's public EVT 3.0 specification) but not the events after it.
    assert as_rows(read_raw(tmp_path / "s.raw")[0]).tolist() == [[0, 3, 0, 0], [0, 5, 4, 0]]


def test_evt3_time_going_back_is_an_error(tmp_path: Path) -> None:
    path = write_words(tmp_path / "back.raw", EVT3_HEADER, [TH(5), TL(100), Y(3), X(10), TL(50), X(11)])
    offset = len(EVT3_HEADER) + 5 * 2
    with pytest.raises(UserError, match=rf"back\.raw: byte offset {offset}: event t decreases \(20530 < 20580\)"):
        read_raw(path, engine="numpy")
    with pytest.raises(UserError, match=r"back\.raw: event 1: t decreases \(20530 < 20580\)"):
        read_raw(path)


def test_evt3_address_outside_geometry(tmp_path: Path) -> None:
    path = write_words(tmp_path / "wide.raw", EVT3_HEADER, [TH(0), TL(0), Y(3), X(1300)])
    with pytest.raises(UserError, match=r"wide\.raw: byte offset \d+: event x=1300 outside width 1280"):
        read_raw(path, engine="numpy")
    with pytest.raises(UserError, match=r"wide\.raw: event 0: x=1300 outside width 1280"):
        read_raw(path)
    path = write_words(tmp_path / "tall.raw", EVT3_HEADER, [TH(0), TL(0), Y(720), X(3)])
    with pytest.raises(UserError, match=r"tall\.raw: .*y=720 outside height 720"):
        read_raw(path)
    path = write_words(tmp_path / "vec.raw", EVT3_HEADER, [TH(0), TL(0), Y(3), BASE(1270), V12(0), V8(0x01)])
    with pytest.raises(UserError, match=r"vec\.raw: .*x=1282 outside width 1280"):
        read_raw(path)


# Hand-made EVT 2.0 streams -----------------------------------------------------------------------------------


def CD(t_low: int, x: int, y: int, p: int) -> int:
    return p << 28 | t_low << 22 | x << 11 | y


def TH2(v: int) -> int:
    return 0x8 << 28 | v


def decode2(tmp_path: Path, words: list[int], **kwargs: object) -> np.ndarray:
    path = write_words(tmp_path / "s2.raw", EVT2_HEADER, words, "<u4")
    events, _ = read_raw(path, **kwargs)
    assert np.array_equal(as_rows(events), reference_evt2(path, bool(kwargs.get("time_shift", False))))
    for chunk_words in (1, 2, 3):
        assert np.array_equal(np.concatenate(list(iter_raw(path, chunk_words=chunk_words, **kwargs))), events)
    return as_rows(events)


def test_evt2_fields_and_wrap(tmp_path: Path) -> None:
    top = (1 << 28) - 1
    words = [CD(1, 9, 9, 1), TH2(top - 1), CD(5, 639, 479, 1), TH2(top), CD(63, 1, 2, 0), 0xA << 28, TH2(0)]
    words += [CD(1, 3, 4, 1), TH2(7), CD(0, 0, 0, 0)]
    rows = decode2(tmp_path, words)
    assert rows.tolist() == [
        [(top - 1) << 6 | 5, 639, 479, 1],
        [top << 6 | 63, 1, 2, 0],
        [(1 << 34) + 1, 3, 4, 1],
        [(1 << 34) + (7 << 6), 0, 0, 0],
    ]
    shifted = decode2(tmp_path, words, time_shift=True)
    assert shifted[:, 0].tolist() == (rows[:, 0] - ((top - 1) << 6)).tolist()


def test_evt2_time_going_back_is_an_error(tmp_path: Path) -> None:
    path = write_words(tmp_path / "b2.raw", EVT2_HEADER, [TH2(100), CD(10, 1, 1, 1), TH2(99), CD(0, 1, 1, 1)], "<u4")
    with pytest.raises(UserError, match=rf"b2\.raw: byte offset {len(EVT2_HEADER) + 12}: event t decreases"):
        read_raw(path)


# Headers and bad files ---------------------------------------------------------------------------------------


def test_header_forms(tmp_path: Path) -> None:
    body = np.asarray([TH(0x025), TL(0), Y(1), X(2)], dtype="<u2").tobytes()
    assert body[:1] == b"%"
    path = tmp_path / "h.raw"
    path.write_bytes(b"% format EVT3;height=480;width=640\n% end\n" + body)
    header = read_raw_header(path)
    assert (header.encoding, header.geometry) == ("evt3", Geometry(640, 480))
    assert read_raw(path)[0]["x"].tolist() == [2]
    path.write_bytes(b"% evt 3.0\n% geometry 320x320\n% end\n" + body)
    assert read_raw_header(path).geometry == Geometry(320, 320)
    path.write_bytes(b"% evt 3.0\n% Width 304\n% Height 240\n% end\n" + body)
    assert read_raw_header(path).geometry == Geometry(304, 240)
    path.write_bytes(b"% evt 3.0\n% plugin_name hal_plugin_gen3_fx3\n" + body[2:])
    assert read_raw_header(path).geometry == Geometry(640, 480)
    path.write_bytes(b"% evt 3.0\n% plugin_name mystery\n% end\n" + body)
    with pytest.raises(UserError, match=r"h\.raw: header gives no sensor size"):
        read_raw(path)
    assert read_raw(path, geometry=Geometry(8, 8))[1] == Geometry(8, 8)


@pytest.mark.parametrize(
    "header, message",
    [
        (b"% Date 2020-01-01\n% end\n", "header has no '% evt' or '% format' line"),
        (b"", "header has no '% evt' or '% format' line"),
        (b"% evt 2.1\n% end\n", "unsupported event format version 'evt 2.1'"),
        (b"% evt 4.0\n% end\n", "unsupported event format version 'evt 4.0'"),
        (b"% format EVT21;height=720;width=1280\n% end\n", "unsupported event format 'EVT21'"),
        (b"% evt 2.0\n% format EVT3;height=720;width=1280\n% end\n", "header contradicts itself"),
        (b"% evt 3.0\n% geometry big\n% end\n", "is not WIDTHxHEIGHT"),
    ],
)
def test_bad_headers(tmp_path: Path, header: bytes, message: str) -> None:
    path = tmp_path / "bad.raw"
    path.write_bytes(header + bytes(16))
    with pytest.raises(UserError) as err:
        read_raw(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


@pytest.mark.parametrize("name, cut", [("evt3", 1), ("evt2", 2), ("evt2", 3)])
def test_truncated_mid_word(tmp_path: Path, name: str, cut: int) -> None:
    source = EVT3_FILE if name == "evt3" else EVT2_FILE
    needs(source)
    blob = source.read_bytes()
    word = 2 if name == "evt3" else 4
    whole_words = read_raw_header(source).data_offset + (len(blob) // word - 100) * word
    path = tmp_path / "cut.raw"
    path.write_bytes(blob[: whole_words + cut])
    with pytest.raises(UserError, match=rf"cut\.raw: truncated: file ends mid-word at byte offset {whole_words} "):
        read_raw(path)


def test_zero_events(tmp_path: Path) -> None:
    path = write_words(tmp_path / "empty.raw", EVT3_HEADER, [TH(1), TL(2), TH(2), Y(3)])
    with pytest.raises(UserError, match=r"empty\.raw: no events in file"):
        read_raw(path)
    path.write_bytes(EVT3_HEADER)
    with pytest.raises(UserError, match=r"empty\.raw: no events in file"):
        read_raw(path)
    with pytest.raises(UserError, match=r"missing\.raw: no such file"):
        read_raw(tmp_path / "missing.raw")


# EVT 3.0 writer ----------------------------------------------------------------------------------------------


def sorted_like_reader(events: np.ndarray) -> np.ndarray:
    return events[np.lexsort((events["x"], events["p"], events["y"], events["t"]))]


def round_trip(
    tmp_path: Path, events: np.ndarray, geometry: Geometry, check_reference: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    path = tmp_path / "w.raw"
    write_evt3(path, events, geometry)
    back, geo = read_raw(path)
    assert geo == geometry
    if check_reference:
        assert np.array_equal(as_rows(back), reference_evt3(path))
    assert np.array_equal(back, sorted_like_reader(events))
    assert [p.name for p in tmp_path.iterdir()].count("w.raw") == 1
    words = np.frombuffer(path.read_bytes()[read_raw_header(path).data_offset :], dtype="<u2")
    return back, words


def test_writer_round_trips_real_recordings(tmp_path: Path) -> None:
    for source in (EVT3_FILE, EVT2_FILE):
        needs(source)
        events, geometry = read_raw(source)
        round_trip(tmp_path, events, geometry, check_reference=source == EVT3_FILE)


def test_writer_vector_paths(tmp_path: Path) -> None:
    geo = Geometry(1280, 720)
    n = geo.width
    row = make_events(np.full(n, 77), np.arange(n), np.full(n, 5), np.arange(n) % 3 == 0)
    dense = make_events(np.full(40, 78), np.r_[np.arange(1240, 1280), ], np.full(40, 6), np.ones(40))
    dup = make_events(np.full(8, 79), np.array([3, 3, 4, 5, 6, 7, 8, 8]), np.full(8, 1), np.zeros(8))
    events = np.concatenate([row, dense, dup])
    _, words = round_trip(tmp_path, events, geo)
    kinds = words >> 12
    assert np.count_nonzero(kinds == 0x4) >= 2 * np.count_nonzero(kinds == 0x5) > 0
    vect = np.flatnonzero(kinds == 0x3)
    assert np.all(kinds[vect + 1] == 0x4) and np.all(kinds[vect + 2] == 0x4) and np.all(kinds[vect + 3] == 0x5)
    assert np.all((words[vect] & 0x7FF) + 32 <= geo.width)


def test_writer_random_streams_and_wraps(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    geo = Geometry(346, 260)
    n = 30_000
    t = np.sort(rng.integers(0, 3 << 24, n))
    t[-100:] += 1 << 36
    events = make_events(t, rng.integers(0, 346, n), rng.integers(0, 260, n), rng.integers(0, 2, n))
    round_trip(tmp_path, events, geo)
    late = events.copy()
    late["t"] += 123_456_789
    round_trip(tmp_path, late, geo)


def test_writer_chunks_and_far_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    geo = Geometry(64, 48)
    n = 2_000
    t = np.sort(rng.integers(0, 50_000, n))
    events = make_events(t, rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n))
    events["x"][:40], events["y"][:40], events["t"][:40] = np.arange(40)[::-1], 3, 0
    monkeypatch.setattr(evt3_writer, "_CHUNK_EVENTS", 7)
    round_trip(tmp_path, events, geo)
    far = make_events(np.array([0, 0, 0, 1 << 45, 1 << 45]), np.array([5, 1, 3, 2, 1]), np.zeros(5), np.ones(5))
    round_trip(tmp_path, far, geo, check_reference=False)


def test_writer_refuses_bad_input(tmp_path: Path) -> None:
    geo = Geometry(64, 64)
    events = make_events(np.array([5, 4]), np.array([1, 2]), np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(UserError, match=r"o\.raw: event 1: t decreases"):
        write_evt3(tmp_path / "o.raw", events, geo)
    events["t"] = [-5, 0]
    with pytest.raises(UserError, match=r"o\.raw: event 0: negative time"):
        write_evt3(tmp_path / "o.raw", events, geo)
    with pytest.raises(UserError, match="at most 2048x2048"):
        write_evt3(tmp_path / "o.raw", events, Geometry(4096, 64))
    assert list(tmp_path.iterdir()) == []
