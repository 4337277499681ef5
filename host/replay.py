"""Replay a recorded session through the pipeline, and compare with what was predicted live.

The recording holds every pipeline input in order ("f0" frames and "end" events), so the
same Segmenter, normaliser and model reproduce the live predictions exactly, as fast as
the CPU runs them. A recording cut by a killed process replays up to its last complete line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pipeline import Classifier, Frames, Pipeline, Prediction, SegmenterConfig
from .record import Recording, read_recording


@dataclass
class ReplayResult:
    recording: Recording
    predictions: list[Prediction]
    recorded: list[dict]                 # the "prediction" lines of the recording

    def matches(self) -> list[bool]:
        """Per prediction: same utterance frames, same label, same raw model output."""
        out = []
        for p, r in zip(self.predictions, self.recorded):
            out.append(p.first == r["first"] and p.last == r["last"] and p.label == r["label"]
                       and p.raw.tolist() == r["raw"])
        return out

    @property
    def all_match(self) -> bool:
        return len(self.predictions) == len(self.recorded) and all(self.matches())


def frames_from_event(e: dict) -> Frames:
    return Frames(np.asarray(e["index"], np.int64), np.asarray(e["f0_hz"], np.float32),
                  np.asarray(e["voiced"], bool), np.asarray(e["periodicity"], np.float32),
                  np.asarray(e["energy_db"], np.float32))


def segmenter_config(rec: Recording) -> SegmenterConfig:
    """The segmentation the monitor used (its "config" line)."""
    for e in rec.of_type("config"):
        return SegmenterConfig(**e["segmenter"])
    return SegmenterConfig()


def replay(folder: str | Path, classifier: Classifier | None, seg: SegmenterConfig | None = None,
           on_prediction=None) -> ReplayResult:
    """Drive a fresh pipeline with the recording's inputs; returns its predictions and the recorded ones."""
    rec = read_recording(folder)
    pipe = Pipeline(classifier, seg or segmenter_config(rec))
    preds: list[Prediction] = []

    def take(ps: list[Prediction]) -> None:
        for p in ps:
            preds.append(p)
            if on_prediction is not None:
                on_prediction(p)

    for e in rec.events:
        kind = e.get("type")
        if kind == "f0":
            take(pipe.f0(frames_from_event(e)))
        elif kind == "end":
            take(pipe.end(e["reason"]))
    return ReplayResult(rec, preds, rec.of_type("prediction"))
