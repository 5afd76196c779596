"""Vectorised decoder for Prophesee EVT 2.0 (32-bit little-endian words), chunk by chunk.

Word = 4-bit type (bits 31..28) + 28-bit payload. CD_OFF 0x0 / CD_ON 0x1: time-low bits 27..22 (6 bits),
x bits 21..11, y bits 10..0, polarity = type. EVT_TIME_HIGH 0x8: bits 27..0 are time >> 6.
EXT_TRIGGER 0xA, OTHERS 0xE, CONTINUED 0xF carry no CD event and are skipped.
t = (time_high << 6) | time_low, in microseconds.

Time follows OpenEB's decoder (hal/.../evt2/evt2_decoder.h): words before the first TIME_HIGH are dropped;
a TIME_HIGH that goes back by at least (2**28 - 1) * 64 - 10000 us is a wrap of the 34-bit counter
(+2**34 us). With time shifting, the output time is `t - (first_time_high << 6)`, as Metavision does.
"""

from __future__ import annotations


import numpy as np

from ucfdvs.events.event_array import EVENT_DTYPE
from ucfdvs.events.decoder_base import RawDecoderBase, pick_state

CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED = 0x0, 0x1, 0x8, 0xA, 0xE, 0xF
WORD_BYTES = 4
_MAX_TIMESTAMP = ((1 << 28) - 1) << 6
_LOOP_THRESHOLD = 10_000
_TIME_LOOP = 1 << 34


class Evt2Decoder(RawDecoderBase):
    """Stateful EVT 2.0 decoder: feed consecutive word chunks to `decode`, get `EVENT_DTYPE` arrays."""

    word_bytes = WORD_BYTES

    def decode(self, words: np.ndarray, byte_offset: int) -> np.ndarray:
        """Decode one chunk of uint32 words whose first word is at `byte_offset` in the file.

        Returns the chunk's CD events, [N] `EVENT_DTYPE`, t in microseconds.
        """
        words = np.asarray(words, dtype=np.uint32)
        typ = (words >> 28).astype(np.uint8)
        if not self.started:
            first = np.flatnonzero(typ == TIME_HIGH)
            if first.size == 0:
                return np.empty(0, dtype=EVENT_DTYPE)
            i0 = int(first[0])
            words, typ = words[i0:], typ[i0:]
            byte_offset += i0 * WORD_BYTES
            self.started = True
            self.high = int(words[0] & 0x0FFFFFFF)
            self.shift = (self.high << 6) if self.time_shift else 0
        is_th = typ == TIME_HIGH
        th_val = (words[is_th] & 0x0FFFFFFF).astype(np.int64)
        prev = np.empty_like(th_val)
        if th_val.size:
            prev[0] = self.high
            prev[1:] = th_val[:-1]
        th_loop = self.loop + np.cumsum((prev - th_val) << 6 >= _MAX_TIMESTAMP - _LOOP_THRESHOLD)
        th_ord = np.cumsum(is_th) - 1

        ev_pos = np.flatnonzero(typ <= CD_ON)
        w = words[ev_pos]
        to = th_ord[ev_pos]
        t = pick_state(th_val, to, self.high) << 6
        t += (w >> 22) & 0x3F
        if th_loop.size and th_loop[-1] != self.loop or self.loop:
            t += pick_state(th_loop, to, self.loop) * _TIME_LOOP
        if self.shift:
            t -= self.shift
        x = ((w >> 11) & 0x7FF).astype(np.uint16)
        y = (w & 0x7FF).astype(np.uint16)
        self._check(t, x, y, ev_pos, byte_offset)
        events = np.empty(ev_pos.size, dtype=EVENT_DTYPE)
        events["t"] = t
        events["x"] = x
        events["y"] = y
        events["p"] = typ[ev_pos]
        if th_val.size:
            self.high, self.loop = int(th_val[-1]), int(th_loop[-1])
        if t.size:
            self.last_t = int(t[-1])
        return events
