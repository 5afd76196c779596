"""Vectorised decoder for Prophesee EVT 3.0 (16-bit little-endian words), chunk by chunk.

Word = 4-bit type (bits 15..12) + 12-bit payload. Types used:
EVT_ADDR_Y 0x0 (y in bits 10..0), EVT_ADDR_X 0x2 (one event: polarity bit 11, x bits 10..0),
VECT_BASE_X 0x3 (polarity bit 11, base x bits 10..0), VECT_12 0x4 (12-bit mask of events at base x + bit),
VECT_8 0x5 (8-bit mask), EVT_TIME_LOW 0x6 and EVT_TIME_HIGH 0x8 (12 bits each of a 24-bit us time).
After each VECT_12 / VECT_8 the base x advances by 12 / 8. EXT_TRIGGER 0xA, OTHERS 0xE, CONTINUED_4 0x7,
CONTINUED_12 0xF and the rest carry no CD event and are skipped. Type 0x1 (EM address) marks following
events as non-CD; they are skipped too.

Time follows OpenEB's decoder (hal/.../evt3/evt3_decoder.h): words before the first TIME_HIGH are dropped;
a TIME_HIGH that is at least 2048 below the previous one is a wrap of the 24-bit counter (+2**24 us);
a TIME_HIGH that changes the value resets time-low to 0 until the next TIME_LOW. With time shifting, the
output time is `t - ((first_time_high - 1) << 12)` (no shift when the first TIME_HIGH is 0), as Metavision's
RAW reader does by default.

The state is carried between chunks, so any chunking gives the same events. Every step is a numpy array
operation over the chunk: for each event word, the last TIME_HIGH / TIME_LOW / ADDR_Y / VECT_BASE_X word
before it is found from a running count (`np.cumsum`) of those words, and the base-x advance
with a cumulative sum of vector widths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ucfdvs.events.event_array import EVENT_DTYPE, Geometry
from ucfdvs.events.decoder_base import RawDecoderBase, pick_state

ADDR_Y, ADDR_Y_EM, ADDR_X, VECT_BASE_X, VECT_12, VECT_8, TIME_LOW, CONTINUED_4, TIME_HIGH = 0, 1, 2, 3, 4, 5, 6, 7, 8
EXT_TRIGGER, OTHERS, CONTINUED_12 = 0xA, 0xE, 0xF
WORD_BYTES = 2
_WRAP_HALF = 1 << 11
_POPCOUNT12 = np.array([bin(v).count("1") for v in range(1 << 12)], dtype=np.int64)
_LOWBIT12 = np.array([(v & -v).bit_length() - 1 for v in range(1 << 12)], dtype=np.int64)
_BITS12 = np.arange(12, dtype=np.uint16)


def _last_at(mask: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query word index, the ordinal among the True words of `mask` of the last one at or before it,
    or -1 (a running count of `mask`, read at `query`)."""
    return np.cumsum(mask, dtype=np.int32)[query] - 1


class Evt3Decoder(RawDecoderBase):
    """Stateful EVT 3.0 decoder: feed consecutive word chunks to `decode`, get `EVENT_DTYPE` arrays."""

    word_bytes = WORD_BYTES

    def __init__(self, geometry: Geometry, path: str | Path, time_shift: bool = False) -> None:
        super().__init__(geometry, path, time_shift)
        self.low = 0
        self.y = -1
        self.is_cd = True
        self.base_x = -1
        self.base_p = 0
        self.dropped = 0

    def decode(self, words: np.ndarray, byte_offset: int) -> np.ndarray:
        """Decode one chunk of uint16 words whose first word is at `byte_offset` in the file.

        Returns the chunk's CD events, [N] `EVENT_DTYPE`, t in microseconds.
        """
        words = np.asarray(words, dtype=np.uint16)
        if not self.started:
            first = np.flatnonzero((words >> 12) == TIME_HIGH)
            if first.size == 0:
                return np.empty(0, dtype=EVENT_DTYPE)
            i0 = int(first[0])
            words = words[i0:]
            byte_offset += i0 * WORD_BYTES
            first_high = int(words[0] & 0xFFF)
            self.started = True
            self.high = max(first_high - 1, 0)
            self.shift = (self.high << 12) if self.time_shift else 0
        typ = words >> 12
        is_th, is_tl, is_y, is_base = typ == TIME_HIGH, typ == TIME_LOW, typ <= ADDR_Y_EM, typ == VECT_BASE_X
        th_pos, tl_pos, y_pos, base_pos = (np.flatnonzero(m) for m in (is_th, is_tl, is_y, is_base))
        is_vec = (typ == VECT_12) | (typ == VECT_8)
        vec_pos = np.flatnonzero(is_vec)
        ev_pos = np.flatnonzero(is_vec | (typ == ADDR_X))

        # Time: TIME_HIGH values and wrap count; a changed TIME_HIGH resets time-low to 0 until a TIME_LOW.
        th_val = (words[th_pos] & 0xFFF).astype(np.int64)
        prev = np.empty_like(th_val)
        if th_val.size:
            prev[0] = self.high
            prev[1:] = th_val[:-1]
        th_loop = self.loop + np.cumsum(prev >= th_val + _WRAP_HALF)
        changed = th_val != prev
        change_pos = th_pos[changed]
        is_change = np.zeros(words.size, dtype=bool)
        is_change[change_pos] = True

        # Vector base x advances by 12 / 8 after each VECT_12 / VECT_8 since the last VECT_BASE_X.
        vec_width = np.where(typ[vec_pos] == VECT_12, 12, 8).astype(np.int64)
        widths_before = np.zeros(vec_pos.size + 1, dtype=np.int64)
        np.cumsum(vec_width, out=widths_before[1:])
        base_word = words[base_pos].astype(np.int64)
        base_widths = widths_before[np.searchsorted(vec_pos, base_pos)]
        vb = _last_at(is_base, vec_pos)
        vec_x = np.where(
            vb >= 0,
            pick_state(base_word & 0x7FF, vb, 0) + widths_before[:-1] - pick_state(base_widths, vb, 0),
            self.base_x + widths_before[:-1] if self.base_x >= 0 else -1,
        )
        vec_p = pick_state(base_word >> 11 & 1, vb, self.base_p)

        ev_word = words[ev_pos].astype(np.int64)
        ev_typ = ev_word >> 12
        is_x = ev_typ == ADDR_X
        ev_x0 = ev_word & 0x7FF
        ev_p = ev_word >> 11 & 1
        ev_mask = np.where(ev_typ == VECT_12, ev_word & 0xFFF, np.where(is_x, 1, ev_word & 0xFF))
        in_vec = np.flatnonzero(~is_x)
        ev_x0[in_vec] = vec_x
        ev_p[in_vec] = vec_p
        yi = _last_at(is_y, ev_pos)
        y_word = pick_state(words[y_pos].astype(np.int64), yi, -1)
        ev_y = np.where(yi >= 0, y_word & 0x7FF, self.y)
        ev_cd = np.where(yi >= 0, (y_word >> 12) == ADDR_Y, self.is_cd)
        keep = (ev_y >= 0) & ev_cd & (ev_x0 >= 0) & (ev_mask != 0)
        if not keep.all():
            self.dropped += int(np.count_nonzero(~keep & (ev_mask != 0)))
            ev_pos, ev_x0, ev_p, ev_mask, ev_y = ev_pos[keep], ev_x0[keep], ev_p[keep], ev_mask[keep], ev_y[keep]
        to = _last_at(is_th, ev_pos)
        high = pick_state(th_val, to, self.high)
        loop = pick_state(th_loop, to, self.loop)
        lc = pick_state(change_pos, _last_at(is_change, ev_pos), -1)
        ll = pick_state(tl_pos, _last_at(is_tl, ev_pos), -1)
        low = np.where(ll > lc, words[np.maximum(ll, 0)] & 0xFFF, np.where(lc >= 0, 0, self.low))
        ev_t = (loop << 24) | (high << 12) | low

        # Expand each event word into its events: counts, then bit positions of the vector masks.
        counts = _POPCOUNT12[ev_mask]
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        word_of_event = np.repeat(np.arange(ev_pos.size), counts)
        bit = np.zeros(total, dtype=np.int64)
        single = counts == 1
        bit[starts[single]] = _LOWBIT12[ev_mask[single]]
        multi = np.flatnonzero(counts > 1)
        if multi.size:
            rows, ks = np.nonzero((ev_mask[multi, None].astype(np.uint16) >> _BITS12) & 1)
            m_counts = counts[multi]
            within = np.arange(rows.size) - (np.cumsum(m_counts) - m_counts)[rows]
            bit[starts[multi][rows] + within] = ks
        events = np.empty(total, dtype=EVENT_DTYPE)
        events["t"] = ev_t[word_of_event] - self.shift
        x = ev_x0[word_of_event] + bit
        y = ev_y[word_of_event]
        self._check(events["t"], x, y, ev_pos[word_of_event], byte_offset)
        events["x"] = x
        events["y"] = y
        events["p"] = ev_p[word_of_event]

        # Carry the state to the next chunk.
        if th_val.size:
            self.high, self.loop = int(th_val[-1]), int(th_loop[-1])
        last_change = int(change_pos[-1]) if change_pos.size else -1
        last_low = int(tl_pos[-1]) if tl_pos.size else -1
        if last_low > last_change:
            self.low = int(words[last_low] & 0xFFF)
        elif last_change >= 0:
            self.low = 0
        if y_pos.size:
            self.y = int(words[y_pos[-1]] & 0x7FF)
            self.is_cd = bool((words[y_pos[-1]] >> 12) == ADDR_Y)
        if base_pos.size:
            self.base_x = int(base_word[-1] & 0x7FF) + int(widths_before[-1] - base_widths[-1])
            self.base_p = int(base_word[-1] >> 11 & 1)
        elif self.base_x >= 0:
            self.base_x += int(widths_before[-1])
        if total:
            self.last_t = int(events["t"][-1])
        return events
