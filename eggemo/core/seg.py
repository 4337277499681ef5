"""emo_seg's twin: F0 frames cut into utterances by voicing (csrc/emo_seg.c).

    seg = Segmenter(SegmenterConfig())          # the NumPy reference, the specification
    seg = NativeSegmenter(SegmenterConfig())    # the C the board runs, through eggemo._emo
    for utt in seg.push(frames_from_records(f0_block.records)):
        ...

Both take Frames (the F0 core's frame records as columns) and give the same Utterances, closed at
the same frame with the same fields bit for bit and the same drop count (tests/core/test_seg_parity.py).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from eggemo.core import check, native
from eggemo.core import proto as P

# --- F0 frames -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    """Consecutive F0 frames as columns; index counts 10 ms hops from the stream's start."""

    index: np.ndarray        # int64
    f0_hz: np.ndarray        # float32, 0 where unvoiced
    voiced: np.ndarray       # bool
    periodicity: np.ndarray  # float32
    energy_db: np.ndarray    # float32
    cq: np.ndarray           # float32, EGG contact quotient 0..1; 0 where unvoiced
    jitter: np.ndarray       # float32, period jitter ratio; 0 where unvoiced
    shimmer: np.ndarray      # float32, contact-amplitude shimmer ratio; 0 where unvoiced

    def __len__(self) -> int:
        return len(self.index)


# The columns of Frames, in order; all but index are float32 or bool per frame.
FRAME_COLUMNS = ("index", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer")
VQ_COLUMNS = ("cq", "jitter", "shimmer")    # the F0 core's voice quality (protocol version 2)


def frames_from_records(rec: np.ndarray) -> Frames:
    """Frames from the board's F0 records (a structured array of protocol.F0_DTYPE)."""
    voiced = rec["voiced"].astype(bool)
    f32 = np.float32
    return Frames(rec["index"].astype(np.int64), np.where(voiced, rec["f0_hz"], 0.0).astype(f32), voiced,
                  rec["periodicity"].astype(f32), rec["energy_db"].astype(f32), rec["cq"].astype(f32),
                  rec["jitter"].astype(f32), rec["shimmer"].astype(f32))


def frames_to_records(frames: Frames) -> np.ndarray:
    rec = np.zeros(len(frames), P.F0_DTYPE)
    for name in FRAME_COLUMNS:
        rec[name] = getattr(frames, name)
    return rec


def empty_frames() -> Frames:
    return Frames(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, bool),
                  *(np.zeros(0, np.float32) for _ in FRAME_COLUMNS[3:]))


def concat_frames(parts: list[Frames]) -> Frames:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_frames()
    return Frames(*(np.concatenate([getattr(p, f) for p in parts]) for f in FRAME_COLUMNS))


# --- the segmenter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmenterConfig:
    """Utterances from voicing. An utterance starts at a voiced frame, with up to ``preroll_ms``
    of the unvoiced frames before it (corpus files start with a little silence too), and ends
    when ``hangover_ms`` pass without voicing; it keeps ``tail_ms`` of that silence. Pauses
    shorter than the hangover stay inside. Utterances with less than ``min_voiced_ms`` of
    voicing are dropped; one that reaches ``max_ms`` is closed there."""

    hop_ms: float = 10.0
    hangover_ms: float = 500.0
    preroll_ms: float = 300.0
    tail_ms: float = 200.0
    min_voiced_ms: float = 100.0
    max_ms: float = 10000.0

    def __post_init__(self) -> None:
        if self.hop_ms <= 0:
            raise ValueError(f"hop_ms must be positive, got {self.hop_ms}")
        for name in ("hangover_ms", "preroll_ms", "tail_ms", "min_voiced_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.hangover_ms < self.hop_ms:
            raise ValueError(f"hangover_ms ({self.hangover_ms}) must be at least one hop ({self.hop_ms} ms)")
        if self.max_ms < self.hangover_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must be >= hangover_ms ({self.hangover_ms})")

    def frames(self, ms: float) -> int:
        return int(round(ms / self.hop_ms))


@dataclass(frozen=True)
class Utterance:
    first: int               # frame index of its first frame
    f0_hz: np.ndarray        # float32, 0 where unvoiced
    voiced: np.ndarray       # bool
    reason: str              # why it ended: hangover | max_length | stream_end | link_lost | gap | restart
    periodicity: np.ndarray | None = None   # float32, the F0 core's per frame (what the student may read)
    energy_db: np.ndarray | None = None     # float32
    cq: np.ndarray | None = None            # float32, contact quotient (0 unvoiced)
    jitter: np.ndarray | None = None        # float32
    shimmer: np.ndarray | None = None       # float32

    def __len__(self) -> int:
        return len(self.f0_hz)

    @property
    def last(self) -> int:
        return self.first + len(self) - 1

    @property
    def n_voiced(self) -> int:
        return int(self.voiced.sum())


class Segmenter:
    """Cuts an ordered stream of F0 frames into utterances. Frames must come in index order;
    a jump ends the open utterance (reason "gap", or "restart" when the index goes back)."""

    def __init__(self, config: SegmenterConfig = SegmenterConfig()) -> None:
        self.config = config
        self._hang = config.frames(config.hangover_ms)
        self._tail = min(config.frames(config.tail_ms), self._hang)
        self._min_voiced = max(1, config.frames(config.min_voiced_ms))
        self._max = max(1, config.frames(config.max_ms))
        # one tuple per frame: (index, f0_hz, voiced, periodicity, energy_db, cq, jitter, shimmer)
        self._pre: deque[tuple] = deque(maxlen=config.frames(config.preroll_ms))
        self._cur: list[tuple] | None = None
        self._last_voiced = -1     # position in _cur
        self._n_voiced = 0
        self._next: int | None = None
        self.dropped = 0           # utterances too short to classify

    @property
    def in_utterance(self) -> bool:
        return self._cur is not None

    def push(self, frames: Frames) -> list[Utterance]:
        out: list[Utterance] = []
        for idx, f0, v, *rest in zip(*(getattr(frames, c).tolist() for c in FRAME_COLUMNS)):
            if self._next is not None and idx != self._next:
                out += self.end("restart" if idx < self._next else "gap")
            self._next = idx + 1
            if v:
                if self._cur is None:
                    self._cur = list(self._pre)
                    self._pre.clear()
                    self._n_voiced = 0
                self._cur.append((idx, f0, True, *rest))
                self._last_voiced = len(self._cur) - 1
                self._n_voiced += 1
            elif self._cur is None:
                self._pre.append((idx, f0, False, *rest))
                continue
            else:
                self._cur.append((idx, f0, False, *rest))
                if len(self._cur) - 1 - self._last_voiced >= self._hang:
                    out += self._close("hangover", self._last_voiced + 1 + self._tail)
                    continue
            if len(self._cur) >= self._max:
                out += self._close("max_length", len(self._cur))
        return out

    def end(self, reason: str) -> list[Utterance]:
        """Close the open utterance now (stream end, link lost, ...) and forget the preroll."""
        out = self._close(reason, self._last_voiced + 1 + self._tail) if self._cur is not None else []
        self._pre.clear()
        self._next = None
        return out

    def _close(self, reason: str, stop: int) -> list[Utterance]:
        cur, n_voiced = self._cur, self._n_voiced
        self._cur, self._last_voiced, self._n_voiced = None, -1, 0
        keep, rest = cur[:stop], cur[stop:]
        self._pre.extend(rest)
        if n_voiced < self._min_voiced:
            self.dropped += 1
            return []
        cols = list(zip(*keep))
        return [Utterance(keep[0][0], np.array(cols[1], np.float32), np.array(cols[2], bool), reason,
                          *(np.array(c, np.float32) for c in cols[3:]))]


# --- the C segmenter, with the same interface ------------------------------------------------------

_MS_FIELDS = ("hop_ms", "hangover_ms", "preroll_ms", "tail_ms", "min_voiced_ms", "max_ms")
_FLOATS = FRAME_COLUMNS[3:]                    # periodicity, energy_db, cq, jitter, shimmer


class NativeSegmenter:
    """csrc/emo_seg.c, the board's segmenter, with Segmenter's interface: push Frames, get Utterances."""

    def __init__(self, config: SegmenterConfig = SegmenterConfig()) -> None:
        self.ffi, self.lib = ffi, lib = native()
        self.config = config
        self.reasons = {lib.EMO_SEG_HANGOVER: "hangover", lib.EMO_SEG_MAX_LENGTH: "max_length",
                        lib.EMO_SEG_STREAM_END: "stream_end", lib.EMO_SEG_GAP: "gap", lib.EMO_SEG_RESTART: "restart"}
        self.codes = {name: code for code, name in self.reasons.items()}
        ms = ffi.new("emo_seg_ms_t *", {f: getattr(config, f) for f in _MS_FIELDS})
        c = ffi.new("emo_seg_config_t *")
        check(lib.emo_seg_config_from_ms(c, ms), f"segmenter settings {config}")
        self.st = ffi.new("emo_seg_state_t *")
        check(lib.emo_seg_init(self.st, c), "emo_seg_init")
        names = ["index", "f0_hz", "voiced", *_FLOATS]
        self.dtype = np.dtype({"names": names, "formats": ["<u4", "<f4", "u1", *["<f4"] * len(_FLOATS)],
                               "offsets": [ffi.offsetof("emo_f0_frame_t", n) for n in names],
                               "itemsize": ffi.sizeof("emo_f0_frame_t")})
        self._frame = ffi.new("emo_f0_frame_t *")
        self._utt = ffi.new("emo_seg_utt_t *")
        self._got = ffi.new("int32_t *")

    @property
    def dropped(self) -> int:
        return int(self.st.dropped)

    @property
    def in_utterance(self) -> bool:
        return bool(self.st.open)

    def push(self, frames: Frames) -> list[Utterance]:
        rec = np.zeros(len(frames), self.dtype)
        for name in self.dtype.names:
            rec[name] = getattr(frames, name)
        out: list[Utterance] = []
        for r in rec:
            self.ffi.buffer(self._frame)[:] = r.tobytes()
            check(self.lib.emo_seg_push(self.st, self._frame, self._utt, self._got), "emo_seg_push")
            out += self._take()
        return out

    def end(self, reason: str) -> list[Utterance]:
        """Close the open utterance now; `reason` one of the C core's (not "link_lost", a host event)."""
        if reason not in self.codes:
            raise ValueError(f"the C segmenter ends an utterance for {sorted(self.codes)}, not {reason!r}")
        check(self.lib.emo_seg_end(self.st, self.codes[reason], self._utt, self._got), "emo_seg_end")
        return self._take()

    def _take(self) -> list[Utterance]:
        if not self._got[0]:
            return []
        u = self._utt
        rec = np.frombuffer(self.ffi.buffer(u.frames, u.n * self.dtype.itemsize), self.dtype).copy()
        return [Utterance(int(u.first), rec["f0_hz"], rec["voiced"].astype(bool), self.reasons[u.reason],
                          *(rec[f] for f in _FLOATS))]
