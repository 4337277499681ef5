"""Lab Streaming Layer outlets (optional, pylsl): F0 frames and emotion predictions, with
channel metadata (label, unit, type) that LabRecorder stores in its XDF files.

Two streams, named after the source id so several monitors can run side by side:

    eggemo-F0 (type "F0", 100 Hz): f0 (Hz), voiced (bool), periodicity, energy (dB), cq (contact
                                   quotient), jitter, shimmer (ratios; the last three 0 unvoiced)
    eggemo-emotion (type "Emotion", irregular): one probability channel per class label

F0 samples are time-stamped at their frame centre; a voiced segment's frames reach the host
when the segment ends, so their stamps lie in the past, as LSL allows.
"""
from __future__ import annotations

import numpy as np

F0_CHANNELS = (("f0", "Hz", "F0"), ("voiced", "bool", "Voicing"), ("periodicity", "normalized", "Periodicity"),
               ("energy", "dB", "Energy"), ("cq", "ratio", "ContactQuotient"), ("jitter", "ratio", "Jitter"),
               ("shimmer", "ratio", "Shimmer"))


def _require_pylsl():
    try:
        import pylsl
    except (ImportError, RuntimeError) as exc:  # pylsl raises RuntimeError when liblsl is missing
        raise RuntimeError(f"--lsl needs pylsl with liblsl ({exc}); install it with pip install 'eggemo[lsl]'") from None
    return pylsl


def _describe(info, channels: list[tuple[str, str, str]], manufacturer: str = "eggemo") -> None:
    desc = info.desc()
    desc.append_child_value("manufacturer", manufacturer)
    chans = desc.append_child("channels")
    for label, unit, type_ in channels:
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", type_)


class LslOutlets:
    """Publish F0 and predictions. ``clock_offset`` maps stream seconds to LSL time."""

    def __init__(self, label_names: tuple[str, ...] | list[str], *, source_id: str = "eggemo",
                 f0_rate: float = 100.0) -> None:
        pylsl = _require_pylsl()
        self._pylsl = pylsl
        self.label_names = tuple(label_names)
        f0 = pylsl.StreamInfo(f"{source_id}-F0", "F0", len(F0_CHANNELS), f0_rate, pylsl.cf_float32,
                              f"{source_id}-f0")
        _describe(f0, list(F0_CHANNELS))
        self.f0_info = f0
        self.f0 = pylsl.StreamOutlet(f0)
        self.emotion = None
        if self.label_names:
            emo = pylsl.StreamInfo(f"{source_id}-emotion", "Emotion", len(self.label_names), pylsl.IRREGULAR_RATE,
                                   pylsl.cf_float32, f"{source_id}-emotion")
            _describe(emo, [(n, "probability", "EmotionProbability") for n in self.label_names])
            self.emotion_info = emo
            self.emotion = pylsl.StreamOutlet(emo)
        self.clock_offset: float | None = None

    def push_f0(self, stream_times_s: np.ndarray, f0_hz: np.ndarray, voiced: np.ndarray,
                periodicity: np.ndarray, energy_db: np.ndarray, cq: np.ndarray, jitter: np.ndarray,
                shimmer: np.ndarray) -> None:
        if len(f0_hz) == 0:
            return
        now = self._pylsl.local_clock()
        t = np.asarray(stream_times_s, np.float64)
        if self.clock_offset is None:        # the newest frame is about now
            self.clock_offset = now - float(t[-1])
        chunk = np.stack([f0_hz, voiced, periodicity, energy_db, cq, jitter, shimmer], axis=1).astype(np.float32)
        self.f0.push_chunk(chunk.tolist(), (t + self.clock_offset).tolist())

    def push_prediction(self, probs: np.ndarray) -> None:
        if self.emotion is not None:
            self.emotion.push_sample(np.asarray(probs, np.float32).tolist())

    def close(self) -> None:
        self.f0 = None
        self.emotion = None
