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

from eggemo.core import proto as P
from eggemo.core.feat import (ENERGY_SIGMA_FLOOR, NORM_MODES, PAPER_INPUTS, SIGMA_FLOOR,  # noqa: F401
                              F0Normaliser, F0Stats, NativeNormaliser, native_quantize, native_student_input,
                              student_input)
from eggemo.core.seg import (FRAME_COLUMNS, VQ_COLUMNS, Frames, Segmenter, SegmenterConfig,  # noqa: F401
                             Utterance, concat_frames, empty_frames, frames_from_records, frames_to_records)

# --- F0 on the host --------------------------------------------------------------------

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


# --- normalisation and inference ----------------------------------------------------------

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
    inputs: tuple[str, ...] = PAPER_INPUTS   # the student's per-frame channels (eggemo.core.feat.STUDENT_INPUTS)

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
