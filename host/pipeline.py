"""Frames to predictions: F0 frames -> utterances (voicing with hangover) -> int8 inference.

Each stage is a small object that takes and returns arrays, with no I/O, so the live monitor
and the replay of a recording drive exactly the same code:

    seg = Segmenter(SegmenterConfig())
    clf = Classifier.from_model("export_out/student_int8.tflite")
    for utt in seg.push(frames_from_records(f0_block.records)):
        pred = clf.predict(utt)

The student's input is built from the channels the export report names, so the model sees what it
was trained on. For a float model, by ``eggemo.core.feat.student_input`` (numpy only), the
function feature extraction used in training. For the int8 model, by the C core (csrc/emo_feat.c
through the cffi binding), normalisation statistics and quantisation included: the code the board
runs its own int8 student on, so the host and the board feed the model the same bytes. The C input
equals student_input's to one float32 ulp (tests/core/test_feat_parity.py).
"""
from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eggemo.core.feat import ENERGY_SIGMA_FLOOR, PAPER_INPUTS, SIGMA_FLOOR, F0Stats, student_input

from . import protocol as P

# --- F0 frames --------------------------------------------------------------------------


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


class HostF0:
    """F0 on the host (the C routine via cffi) for a board that streams raw EGG only.

    Sample blocks are placed by their first index; a gap (lost samples) or a restart ends the
    running analysis, and the frames after it are numbered as if the lost samples were there,
    so the segmenter sees the gap in the frame indices.
    """

    def __init__(self, fs: int, params=None) -> None:
        self.fs = fs
        self.params = params
        self.samples_lost = 0
        self._stream = None
        self._next = 0           # next sample index expected
        self._offset = 0         # frame index of the current F0Stream's frame 0

    def _new_stream(self, first: int):
        from eggemo.core.f0.binding import F0Stream

        self._stream = F0Stream(self.fs, self.params)
        self._offset = -(-first // self._stream.hop_samples)  # ceil: never reuse an index
        self._next = first

    def push(self, block: P.SampleBlock) -> Frames:
        parts = []
        if self._stream is None:
            self._new_stream(block.first)
        elif block.first != self._next:
            if block.first > self._next:
                self.samples_lost += block.first - self._next
            parts.append(self._flush())
            self._new_stream(block.first)
        cols = self._stream.push(block.samples)
        self._next = block.first + len(block.samples)
        parts.append(self._frames(cols))
        return concat_frames(parts)

    def flush(self) -> Frames:
        out = self._flush()
        self._stream = None
        return out

    def _flush(self) -> Frames:
        return self._frames(self._stream.flush()) if self._stream is not None else empty_frames()

    def _frames(self, cols: tuple[np.ndarray, ...]) -> Frames:
        # the columns of eggemo.core.f0.binding.frames_to_arrays, the board's record fields
        index, f0, voiced, periodicity, energy, cq, jitter, shimmer = cols
        voiced = np.asarray(voiced, bool)
        f32 = np.float32
        return Frames(np.asarray(index, np.int64) + self._offset, np.where(voiced, f0, 0.0).astype(f32),
                      voiced, np.asarray(periodicity, f32), np.asarray(energy, f32), np.asarray(cq, f32),
                      np.asarray(jitter, f32), np.asarray(shimmer, f32))


def empty_frames() -> Frames:
    return Frames(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, bool),
                  *(np.zeros(0, np.float32) for _ in FRAME_COLUMNS[3:]))


def concat_frames(parts: list[Frames]) -> Frames:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_frames()
    return Frames(*(np.concatenate([getattr(p, f) for p in parts]) for f in FRAME_COLUMNS))


# --- utterance segmentation ---------------------------------------------------------------


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


# --- normalisation and inference ----------------------------------------------------------

NORM_MODES = ("utterance", "session", "fixed")


class F0Normaliser:
    """The F0Stats (mean and std of ln F0 over voiced frames) each utterance is normalised with.

    - "utterance": the utterance's own frames (what training did with f0_norm = "utterance");
    - "session": every voiced frame of this session so far, this utterance included: the
      live form of training's label-free per-speaker statistics (f0_norm = "speaker"), since
      the wearer is one speaker; early utterances see fewer frames than training did;
    - "fixed": given statistics (a speaker's or the training set's, from a --norm JSON file).
    """

    def __init__(self, mode: str, fixed: F0Stats | None = None) -> None:
        if mode not in NORM_MODES:
            raise ValueError(f"normalisation mode {mode!r}: use one of {NORM_MODES}")
        if (mode == "fixed") != (fixed is not None):
            raise ValueError("mode 'fixed' needs statistics, and only it takes them")
        self.mode = mode
        self.fixed = fixed
        self._n = 0
        self._sum = 0.0
        self._sumsq = 0.0
        self._esum = 0.0       # energy_db of the same voiced frames
        self._esumsq = 0.0

    def stats_for(self, utt: Utterance) -> F0Stats:
        if self.mode == "fixed":
            return self.fixed
        if self.mode == "utterance":
            return F0Stats.from_frames(utt.f0_hz, utt.voiced, utt.energy_db)
        use = utt.voiced & (utt.f0_hz > 0)
        lf = np.log(utt.f0_hz[use].astype(np.float64))
        self._n += len(lf)
        self._sum += float(lf.sum())
        self._sumsq += float((lf * lf).sum())
        if utt.energy_db is not None:
            e = np.nan_to_num(utt.energy_db[use].astype(np.float64))
            self._esum += float(e.sum())
            self._esumsq += float((e * e).sum())
        if self._n == 0:
            return F0Stats.from_frames(np.zeros(0), np.zeros(0, bool))
        mu = self._sum / self._n
        sigma = math.sqrt(max(self._sumsq / self._n - mu * mu, 0.0))
        e_mu = self._esum / self._n
        e_sigma = math.sqrt(max(self._esumsq / self._n - e_mu * e_mu, 0.0))
        return F0Stats(mu, max(sigma, SIGMA_FLOOR), self._n, e_mu, max(e_sigma, ENERGY_SIGMA_FLOOR))


# --- the student's input in the C core (csrc/emo_feat.h), as the board builds it -------------

_NORM_CODES = {"utterance": "EMO_FEAT_NORM_UTTERANCE", "session": "EMO_FEAT_NORM_SESSION",
               "fixed": "EMO_FEAT_NORM_FIXED"}
_CROP_CODES = {"center": "EMO_FEAT_CROP_CENTER", "start": "EMO_FEAT_CROP_START", "end": "EMO_FEAT_CROP_END"}
# emo_f0_frame_t's fields (csrc/emo_f0.h) and the Utterance column each is filled from
_FRAME_FIELDS = (("f0_hz", np.float32, "f0_hz"), ("voiced", np.uint8, "voiced"),
                 ("periodicity", np.float32, "periodicity"), ("energy_db", np.float32, "energy_db"),
                 ("cq", np.float32, "cq"), ("jitter", np.float32, "jitter"), ("shimmer", np.float32, "shimmer"))


def _native():
    from eggemo._emo import ffi, lib

    return ffi, lib


def _native_check(status: int, what: str) -> None:
    if status != 0:
        ffi, lib = _native()
        raise ValueError(f"{what}: {ffi.string(lib.emo_status_str(status)).decode()} (status {status})")


def native_frames(utt: Utterance):
    """The utterance as the C core's emo_f0_frame_t array (what the board's F0 core releases). A
    column the utterance lacks (None) is 0, which gives the statistics and channels of its absence."""
    ffi, _ = _native()
    n = len(utt)
    buf = ffi.new("emo_f0_frame_t[]", max(n, 1))
    names = ["index"] + [f for f, _, _ in _FRAME_FIELDS]
    dt = np.dtype({"names": names, "formats": [np.uint32] + [t for _, t, _ in _FRAME_FIELDS],
                   "offsets": [ffi.offsetof("emo_f0_frame_t", f) for f in names],
                   "itemsize": ffi.sizeof("emo_f0_frame_t")})
    rec = np.frombuffer(ffi.buffer(buf), dt)[:n]
    rec["index"] = utt.first + np.arange(n)
    for field_, _, col in _FRAME_FIELDS:
        v = getattr(utt, col)
        if v is not None:
            rec[field_] = v
    return buf


def _stats_to_c(stats: F0Stats) -> dict:
    return {"mu": stats.mu, "sigma": stats.sigma, "n": stats.n, "e_mu": stats.e_mu, "e_sigma": stats.e_sigma}


def native_student_input(utt: Utterance, stats: F0Stats, T: int, crop: str = "center",
                         inputs: tuple[str, ...] = PAPER_INPUTS) -> np.ndarray:
    """student_input() of the utterance by the C core (emo_feat_build): (T, len(inputs)) float32."""
    ffi, lib = _native()
    unknown = [c for c in inputs if not hasattr(lib, "EMO_FEAT_" + c.upper())]
    if unknown or crop not in _CROP_CODES:
        raise ValueError(f"the C core has no student input {unknown} or crop {crop!r}")
    out = np.zeros((T, len(inputs)), np.float32)
    chans = ffi.new("int32_t[]", [getattr(lib, "EMO_FEAT_" + c.upper()) for c in inputs])
    st = ffi.new("emo_feat_stats_t *", _stats_to_c(stats))
    _native_check(lib.emo_feat_build(native_frames(utt), len(utt), st, chans, len(inputs), T,
                                     getattr(lib, _CROP_CODES[crop]), ffi.from_buffer("float[]", out), out.size),
                  "emo_feat_build")
    return out


def native_quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """The model's int8 input (int16 for a 16x8 model) from float features x by the C core
    (emo_feat_quantize, emo_feat_quantize16)."""
    ffi, lib = _native()
    x = np.ascontiguousarray(x, np.float32)
    wide = np.dtype(dtype) == np.int16
    q = np.zeros(x.shape, np.int16 if wide else np.int8)
    fn = lib.emo_feat_quantize16 if wide else lib.emo_feat_quantize
    status = fn(ffi.from_buffer("float[]", x), x.size, float(scale), int(zero_point),
                ffi.from_buffer("int16_t[]" if wide else "int8_t[]", q))
    if status == lib.EMO_ERR_NONFINITE:
        raise ValueError("the F0 features contain NaN or inf; unvoiced frames must be 0, not NaN")
    _native_check(status, "emo_feat_quantize16" if wide else "emo_feat_quantize")
    return q


class NativeNormaliser(F0Normaliser):
    """F0Normaliser in the C core: its statistics, and a session's running sums, are the board's
    (emo_feat_norm_t). Same modes, same statistics as F0Normaliser to 1e-12 relative."""

    def __init__(self, mode: str, fixed: F0Stats | None = None) -> None:
        super().__init__(mode, fixed)
        ffi, lib = _native()
        self._st = ffi.new("emo_feat_norm_t *")
        fx = ffi.NULL if fixed is None else ffi.new("emo_feat_stats_t *", _stats_to_c(fixed))
        _native_check(lib.emo_feat_norm_init(self._st, getattr(lib, _NORM_CODES[mode]), fx),
                      f"normaliser statistics {fixed}")

    @classmethod
    def like(cls, norm: F0Normaliser) -> "NativeNormaliser":
        """A C normaliser with norm's mode, statistics and session sums so far."""
        out = cls(norm.mode, norm.fixed)
        for name in ("n", "sum", "sumsq", "esum", "esumsq"):
            setattr(out._st, name, getattr(norm, "_" + name))
        return out

    def stats_for(self, utt: Utterance) -> F0Stats:
        ffi, lib = _native()
        out = ffi.new("emo_feat_stats_t *")
        _native_check(lib.emo_feat_norm_stats(self._st, native_frames(utt), len(utt), out), "emo_feat_norm_stats")
        return F0Stats(out.mu, out.sigma, int(out.n), out.e_mu, out.e_sigma)


def read_norm_file(path: str | Path) -> F0Stats:
    """F0 statistics from JSON: {"mu": mean of ln F0, "sigma": its std} (optionally "n", and
    "e_mu", "e_sigma": mean and sd of the voiced frames' energy in dB, for a model reading energy)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        mu, sigma = float(d["mu"]), float(d["sigma"])
        e_mu, e_sigma = float(d.get("e_mu", 0.0)), float(d.get("e_sigma", 1.0))
    except FileNotFoundError:
        raise ValueError(f"--norm {path}: no such file") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--norm {path}: need JSON like {{\"mu\": 4.8, \"sigma\": 0.2}} (mean and standard "
                         f"deviation of ln F0 over voiced frames), got an error: {exc}") from None
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"--norm {path}: mu must be finite and sigma positive, got mu={mu}, sigma={sigma}")
    if not (math.isfinite(e_mu) and math.isfinite(e_sigma) and e_sigma > 0):
        raise ValueError(f"--norm {path}: e_mu must be finite and e_sigma positive, got e_mu={e_mu}, e_sigma={e_sigma}")
    stats = F0Stats(mu, max(sigma, SIGMA_FLOOR), int(d.get("n", 0)), e_mu, max(e_sigma, ENERGY_SIGMA_FLOOR))
    for name, (lo, hi) in P.NORM_RANGES.items():     # what a board takes (SET_NORM) and any voice gives
        v = getattr(stats, name)
        if not lo <= v <= hi:
            hint = (f"; mu is the mean of ln F0, e.g. {math.log(120.0):.2f} for 120 Hz, not F0 in Hz"
                    if name == "mu" and v > P.NORM_MU_MAX else "")
            raise ValueError(f"--norm {path}: {name} = {v:g} is outside {lo:.4g}..{hi:.4g}, the statistics a "
                             f"voice of {P.F0_HZ_MIN:g}..{P.F0_HZ_MAX:g} Hz can have (docs/protocol.md, Ranges){hint}")
    return stats


@dataclass(frozen=True)
class ModelInfo:
    """What the host needs to know about an exported student, from its export_report.json."""

    path: Path
    label_names: tuple[str, ...] | None
    T: int | None
    crop: str
    f0_norm: str | None         # the training normalisation group, if the report says
    hop_ms: float
    f0_frame_ms: float
    report: Path | None
    inputs: tuple[str, ...] = PAPER_INPUTS   # the student's per-frame channels (features.STUDENT_INPUTS)

    @classmethod
    def from_model(cls, model: str | Path) -> "ModelInfo":
        from eggemo.runtime import deployed_model

        path = Path(model)
        if path.is_dir():
            path = deployed_model(path)
        if not path.is_file():
            raise ValueError(f"--model {model}: no such file; pass the student_int8.tflite (or student_16x8.tflite) "
                             f"written by `eggemo export CHECKPOINT --out DIR` (or DIR itself)")
        report = path.parent / "export_report.json"
        if not report.is_file():
            return cls(path, None, None, "center", None, 10.0, 40.0, None)
        from eggemo.runtime import read_report

        r = read_report(report)
        fc = r.get("input", {}).get("feature_config", {}) or {}
        return cls(path, tuple(r.get("label_names") or ()) or None, int(r.get("input", {}).get("frames") or 0) or None,
                   str(fc.get("crop", "center")), fc.get("f0_norm"), float(fc.get("hop_ms", 10.0)),
                   float(fc.get("f0_frame_ms", 40.0)), report, tuple(fc.get("student_inputs") or PAPER_INPUTS))


def choose_normaliser(info: ModelInfo, norm: str | None) -> F0Normaliser:
    """--norm utterance | session | FILE.json, or (None) what the model was trained with."""
    if norm in ("utterance", "session"):
        return F0Normaliser(norm)
    if norm is not None:
        return F0Normaliser("fixed", read_norm_file(norm))
    if info.f0_norm == "utterance":
        return F0Normaliser("utterance")
    if info.f0_norm in ("speaker", None):
        # speaker statistics are not in the export: estimate them from this session's voicing
        return F0Normaliser("session")
    raise ValueError(f"the model was trained with f0_norm={info.f0_norm!r}, whose statistics the export does not "
                     f"carry; pass --norm FILE.json with {{\"mu\": ..., \"sigma\": ...}} of the training set")


@dataclass(frozen=True)
class Prediction:
    label: str
    probs: np.ndarray = field(repr=False)     # (n_classes,) float32
    raw: np.ndarray = field(repr=False)       # the model's output tensor (int8 for the int8 model)
    first: int                                # frame indices of the utterance
    last: int
    n_voiced: int
    reason: str
    mu: float                                 # the normalisation statistics used
    sigma: float
    norm_n: int
    infer_ms: float

    def as_dict(self) -> dict:
        return {"label": self.label, "probs": [float(p) for p in self.probs], "raw": self.raw.tolist(),
                "first": self.first, "last": self.last, "n_voiced": self.n_voiced, "reason": self.reason,
                "mu": self.mu, "sigma": self.sigma, "norm_n": self.norm_n, "infer_ms": round(self.infer_ms, 3)}


class Classifier:
    """An exported student in the TFLite runtime, fed exactly the training features.

    An int8 model's input is built, normalisation statistics included, and quantised by the C core,
    as the board builds it (`native`); a float model's by numpy's student_input."""

    def __init__(self, runtime, normaliser: F0Normaliser, crop: str = "center",
                 info: ModelInfo | None = None) -> None:
        self.runtime = runtime
        self.info = info
        self.native = bool(runtime.quantized)
        if self.native and not isinstance(normaliser, NativeNormaliser):
            normaliser = NativeNormaliser.like(normaliser)
        self.normaliser = normaliser
        self.crop = crop
        self.T = runtime.input_shape[0]
        self.label_names = runtime.label_names
        self.inputs = info.inputs if info is not None else PAPER_INPUTS
        if runtime.input_shape[1] != len(self.inputs):
            raise ValueError(f"the model reads {runtime.input_shape[1]} channels per frame but its report names "
                             f"{len(self.inputs)} ({list(self.inputs)}); the model and its report come from "
                             f"different exports")

    @classmethod
    def from_model(cls, model: str | Path, norm: str | None = None, num_threads: int = 1) -> "Classifier":
        from eggemo.runtime import StudentRuntime

        info = ModelInfo.from_model(model)
        rt = StudentRuntime(info.path, info.label_names, num_threads)
        if info.T is not None and rt.input_shape[0] != info.T:
            raise ValueError(f"{info.path} takes {rt.input_shape[0]} frames but {info.report} says {info.T}; "
                             f"the model and its report come from different exports")
        return cls(rt, choose_normaliser(info, norm), info.crop, info)

    def features(self, utt: Utterance, stats: F0Stats) -> np.ndarray:
        """The float (T, C) input the model's input is quantised from (the C core's for int8)."""
        if self.native:
            return native_student_input(utt, stats, self.T, self.crop, self.inputs)
        return student_input(utt.f0_hz, utt.voiced, stats, self.T, self.crop, self.inputs,
                             utt.periodicity, utt.energy_db, cq=utt.cq, jitter=utt.jitter, shimmer=utt.shimmer)

    def model_input(self, x: np.ndarray) -> np.ndarray:
        """The tensor the model gets for features x: the int8 bytes the board would quantise."""
        if self.native:
            return native_quantize(x, self.runtime.input_scale, self.runtime.input_zero_point,
                                   self.runtime.input_dtype)
        return self.runtime.quantize_input(x)

    def predict(self, utt: Utterance) -> Prediction:
        t0 = time.perf_counter()
        stats = self.normaliser.stats_for(utt)
        x = self.features(utt, stats)
        raw = self.runtime.run_raw(self.model_input(x))
        if self.runtime.quantized:
            from eggemo.runtime import dequantize, softmax

            probs = softmax(dequantize(raw, self.runtime.output_scale, self.runtime.output_zero_point))
        else:
            from eggemo.runtime import softmax

            probs = softmax(raw.astype(np.float32))
        return Prediction(self.label_names[int(np.argmax(probs))], probs, raw, utt.first, utt.last, utt.n_voiced,
                          utt.reason, stats.mu, stats.sigma, stats.n, 1000.0 * (time.perf_counter() - t0))


class Pipeline:
    """The monitor's processing, driven by events in arrival order (live) or file order (replay)."""

    def __init__(self, classifier: Classifier | None, seg: SegmenterConfig = SegmenterConfig()) -> None:
        self.classifier = classifier
        self.segmenter = Segmenter(seg)
        self.utterances = 0

    def _classify(self, utts: list[Utterance]) -> list[Prediction]:
        self.utterances += len(utts)
        if self.classifier is None:
            return []
        return [self.classifier.predict(u) for u in utts]

    def f0(self, frames: Frames) -> list[Prediction]:
        return self._classify(self.segmenter.push(frames))

    def end(self, reason: str) -> list[Prediction]:
        """The stream ended or broke (stream_end, link_lost, restart): classify what is open."""
        return self._classify(self.segmenter.end(reason))
