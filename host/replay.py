"""Replay a recorded session through the pipeline, and compare with what was predicted live.

The recording holds every pipeline input in order ("f0" frames and "end" events), so the
same Segmenter, normaliser and model reproduce the live predictions exactly, as fast as
the CPU runs them. A recording cut by a killed process replays up to its last complete line.
The board's own predictions ("emotion" lines, a firmware built with a model) are compared with
the replayed ones as the live monitor compared them (monitor.Agreement).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eggemo.core import proto as P
from .pipeline import FRAME_COLUMNS, VQ_COLUMNS, Classifier, Frames, Pipeline, Prediction, SegmenterConfig
from .record import JSONL_NAME, Recording, read_recording


@dataclass
class ReplayResult:
    recording: Recording
    predictions: list[Prediction]
    recorded: list[dict]                 # the "prediction" lines of the recording
    board: list = dataclasses.field(default_factory=list)   # monitor.BoardPrediction of each "emotion" line
    agreement: object = None             # monitor.Agreement of the board's vs the replayed predictions
    # board frames with a value outside its range, per field ("f0.energy_db"): those the live monitor
    # refused ("rejected" lines) and "f0" or "emotion" lines that fail the same checks here (a recording
    # made before the checks); none of them reaches the pipeline
    payload_errors: dict[str, int] = dataclasses.field(default_factory=dict)

    def matches(self) -> list[bool]:
        """Per prediction: same utterance frames, same label, same raw model output."""
        out = []
        for p, r in zip(self.predictions, self.recorded):
            out.append(p.first == r.get("first") and p.last == r.get("last") and p.label == r.get("label")
                       and p.raw.tolist() == r.get("raw"))
        return out

    @property
    def all_match(self) -> bool:
        return len(self.predictions) == len(self.recorded) and all(self.matches())


def frames_from_event(e: dict) -> Frames:
    """The Frames of an "f0" line; ValueError when its columns are not equally long 1-D lists, and
    protocol.PayloadError (a ValueError) when a value is outside its range (docs/protocol.md
    "Ranges"), as the live monitor checks board frames: a recording made before those checks may hold
    an F0 record of inf dB, which must not end the replay or reach the model.

    cq, jitter and shimmer came with protocol version 2: a recording made before has none, and
    replays with zeros there (what the F0 core reports on frames without a measured cycle)."""
    index = np.asarray(e["index"], np.int64)
    vq = [np.asarray(e[c], np.float32) if c in e else np.zeros(index.shape, np.float32) for c in VQ_COLUMNS]
    f = Frames(index, np.asarray(e["f0_hz"], np.float32), np.asarray(e["voiced"], bool),
               np.asarray(e["periodicity"], np.float32), np.asarray(e["energy_db"], np.float32), *vq)
    if any(getattr(f, c).ndim != 1 or len(getattr(f, c)) != len(f.index) for c in FRAME_COLUMNS):
        raise ValueError("its columns are not lists of one length")
    # an "f0" line may join frames across a gap (host F0 after lost samples): indices need not run on
    bad = P.f0_problem({c: getattr(f, c) for c in FRAME_COLUMNS}, consecutive=False)
    if bad is not None:
        raise P.PayloadError(f"F0 {bad[1]}", "f0." + bad[0])
    return f


def segmenter_config(rec: Recording) -> SegmenterConfig:
    """The segmentation the monitor used (its "config" line)."""
    for e in rec.of_type("config"):
        try:
            return SegmenterConfig(**e["segmenter"])
        except (KeyError, TypeError, ValueError) as exc:
            rec.problems.append(f"{JSONL_NAME}: the config line's segmenter is unusable ({type(exc).__name__}: "
                                f"{exc}); replayed with the default segmentation")
    return SegmenterConfig()


def replay(folder: str | Path, classifier: Classifier | None, seg: SegmenterConfig | None = None,
           on_prediction=None) -> ReplayResult:
    """Drive a fresh pipeline with the recording's inputs; returns its predictions and the recorded ones."""
    from .monitor import Agreement, board_prediction, model_id_of

    rec = read_recording(folder)
    pipe = Pipeline(classifier, seg or segmenter_config(rec))
    # as live: the host's predictions are paired only with a board that classifies (HELLO's model
    # flag, or an EMOTION frame); with plain firmware there is no board side to miss
    classifies = any(e.get("type") == "emotion" or (e.get("type") == "hello" and
                                                    int(e.get("flags") or 0) & P.HELLO_FLAG_MODEL)
                     for e in rec.events)
    preds: list[Prediction] = []
    board = []
    agree = Agreement()
    names = tuple(classifier.label_names) if classifier is not None else ()
    info = getattr(classifier, "info", None)
    model_id = model_id_of(info.path) if info is not None else None
    fields = [f.name for f in dataclasses.fields(P.Emotion)]
    payload_errors: dict[str, int] = {}

    def count(name: str) -> None:
        payload_errors[name] = payload_errors.get(name, 0) + 1

    def take(ps: list[Prediction]) -> None:
        for p in ps:
            preds.append(p)
            if on_prediction is not None:
                on_prediction(p)
            if classifier is not None and classifies:
                agree.host(p)

    for line, e in zip(rec.lines, rec.events):
        kind = e.get("type")
        if kind == "rejected":              # refused live, kept as received: counted, never replayed
            count(str(e.get("field") or "payload"))
            continue
        try:
            if kind == "f0":
                frames = frames_from_event(e)
            elif kind == "end":
                reason = str(e["reason"])
            elif kind == "emotion":
                emo = P.Emotion(**{**{k: e[k] for k in fields}, "scores": tuple(int(v) for v in e["scores"])})
                bad = emo.field_problem()
                if bad is not None:
                    raise P.PayloadError(f"EMOTION with {bad[1]}", "emotion." + bad[0])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, P.ProtocolError):
                count(exc.field)
            rec.problems.append(f"{JSONL_NAME} line {line}: an {kind!r} line that cannot be replayed "
                                f"({type(exc).__name__}: {exc}); skipped")
            continue
        if kind == "f0":
            take(pipe.f0(frames))
        elif kind == "end":
            take(pipe.end(reason))
            agree.end()
        elif kind == "emotion":
            b = board_prediction(emo, names, classifier.runtime if emo.model_id == model_id else None,
                                 str(e.get("cost_unit", "instructions")))
            board.append(b)
            if classifier is not None:
                agree.board(b)
    agree.end()
    return ReplayResult(rec, preds, rec.of_type("prediction"), board, agree if classifier is not None else None,
                        payload_errors)
