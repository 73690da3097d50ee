"""The sandbox's random streams: one seeded generator per (seed, campaign, day, ...) key."""

from __future__ import annotations

import zlib

import numpy as np


def seeded_rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([k & 0xFFFFFFFF for k in keys])


# NumPy's SeedSequence and PCG64 seeding, written out so that the streams of a whole day's
# campaigns are seeded in one vectorised pass: ``np.random.default_rng(keys)`` costs ~50 µs a
# call, which made generating a large sandbox's history take longer than syncing it. The
# states are the very ones ``seeded_rng`` produces (pinned by a test), so every number is unchanged.
KEY_MASK = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M128 = (1 << 128) - 1


def _hashmix(value: np.ndarray, h: int) -> tuple[np.ndarray, int]:
    value = value ^ np.uint32(h)
    h = (h * _MULT_A) & KEY_MASK
    value = value * np.uint32(h)
    return value ^ (value >> np.uint32(16)), h


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r: np.ndarray = _MIX_L * x - _MIX_R * y
    return r ^ (r >> np.uint32(16))


def pcg_states(columns: list[np.ndarray]) -> list[tuple[int, int]]:
    """PCG64 (state, inc) of ``np.random.default_rng([k1, k2, ...])`` for many key rows at
    once; ``columns[j]`` holds the j-th key of every row (each below 2**32)."""
    n = len(columns[0])
    words = [np.asarray(c, dtype=np.uint32) for c in columns]
    words += [np.zeros(n, dtype=np.uint32)] * (4 - len(words))
    with np.errstate(over="ignore"):
        h = _INIT_A
        pool = []
        for w in words[:4]:
            v, h = _hashmix(w, h)
            pool.append(v)
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    v, h = _hashmix(pool[src], h)
                    pool[dst] = _mix(pool[dst], v)
        for w in words[4:]:
            for dst in range(4):
                v, h = _hashmix(w, h)
                pool[dst] = _mix(pool[dst], v)
        h = _INIT_B
        out = []
        for i in range(8):
            v = pool[i % 4] ^ np.uint32(h)
            h = (h * _MULT_B) & KEY_MASK
            v = v * np.uint32(h)
            out.append((v ^ (v >> np.uint32(16))).astype(np.uint64))
    v64 = [(out[i] | (out[i + 1] << np.uint64(32))).tolist() for i in range(0, 8, 2)]
    states = []
    for s_hi, s_lo, i_hi, i_lo in zip(*v64, strict=True):
        inc = (((i_hi << 64) | i_lo) << 1 | 1) & _M128
        state = (((inc + ((s_hi << 64) | s_lo)) & _M128) * _PCG_MULT + inc) & _M128
        states.append((state, inc))
    return states


class SeededStreams:
    """Generators whose state is set from :func:`pcg_states` (one object, reseeded)."""

    def __init__(self) -> None:
        self.gen = np.random.Generator(np.random.PCG64(0))

    def at(self, state: tuple[int, int]) -> np.random.Generator:
        self.gen.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": state[0], "inc": state[1]},
            "has_uint32": 0, "uinteger": 0,
        }
        return self.gen


def text_key(text: str) -> int:
    return zlib.crc32(text.encode())
