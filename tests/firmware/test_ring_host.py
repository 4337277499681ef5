"""firmware/app/ring.c built for the host (cffi) and checked against a Python model:
wrap-around, and exact counts of what a full ring drops. Under QEMU only the RX ring can
overflow (there is no ADC), so the sample ring's drop counting is checked here."""
from __future__ import annotations

import importlib.util
import sys
from collections import deque

import numpy as np
import pytest
from cffi import FFI
from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo._cbuild import cdef_from_header

from .qemu_board import FIRMWARE

APP = FIRMWARE / "app"
CDEF = cdef_from_header((APP / "ring.h").read_text())  # from the header itself: no copy to drift


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_emo_ring_host", '#include "ring.h"', sources=[str(APP / "ring.c")],
                   include_dirs=[str(APP)], extra_compile_args=["-O2", "-std=c99"])
    out = tmp_path_factory.mktemp("ring")
    so = ffi.compile(tmpdir=str(out))
    spec = importlib.util.spec_from_file_location("_emo_ring_host", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules.pop("_emo_ring_host", None)
    return mod.ffi, mod.lib


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=200))
@settings(max_examples=200, deadline=None)
def test_sample_ring_matches_a_model(ring, ops):
    ffi, lib = ring
    cap = 32
    buf = ffi.new("int16_t[]", cap)
    r = ffi.new("emo_sample_ring_t *")
    lib.emo_sample_ring_init(r, buf, cap)
    model, dropped, counter = deque(), 0, 0
    out = ffi.new("int16_t[]", 64)
    for push, n in ops:
        if push:
            x = np.arange(counter, counter + n, dtype=np.int64).astype(np.int16)
            counter += n
            stored = lib.emo_sample_ring_push(r, ffi.from_buffer("int16_t[]", x), n)
            fit = min(n, cap - len(model))
            assert stored == fit
            model.extend(x[:fit].tolist())
            dropped += n - fit
        else:
            got = lib.emo_sample_ring_pop(r, out, n)
            want = [model.popleft() for _ in range(min(n, len(model)))]
            assert list(out[0:got]) == want
        assert lib.emo_sample_ring_count(r) == len(model) and r.dropped == dropped


def test_byte_ring_fills_to_capacity_then_counts_drops(ring):
    ffi, lib = ring
    buf = ffi.new("uint8_t[]", 16)
    r = ffi.new("emo_byte_ring_t *")
    lib.emo_byte_ring_init(r, buf, 16)
    for k in range(3):  # head and tail keep running across wrap-arounds
        stored = [lib.emo_byte_ring_push(r, (k * 40 + i) & 0xFF) for i in range(40)]
        assert sum(stored) == 16 and r.dropped == 24 * (k + 1)
        out = ffi.new("uint8_t[]", 40)
        assert lib.emo_byte_ring_pop(r, out, 40) == 16
        assert list(out[0:16]) == [(k * 40 + i) & 0xFF for i in range(16)]
    # the free-running indices wrap past 2**32 too
    r.head = r.tail = 0xFFFF_FFF0
    for i in range(20):
        lib.emo_byte_ring_push(r, i)
    assert lib.emo_byte_ring_count(r) == 16 and r.dropped == 72 + 4
    out = ffi.new("uint8_t[]", 16)
    assert lib.emo_byte_ring_pop(r, out, 16) == 16 and list(out) == list(range(16))
