"""Pitch-tracking error measures and alignment to reference tracks (e.g. Praat CSVs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GROSS = 0.20  # relative error beyond which a frame is a gross pitch error


@dataclass(frozen=True)
class PitchErrors:
    gpe: float      # fraction of frames voiced in both with |error| > 20 %
    fpe_hz: float   # mean |error| (Hz) over frames voiced in both without gross error
    vde: float      # fraction of frames whose voicing decision differs
    n_frames: int
    n_both: int

    def row(self) -> str:
        return f"GPE {100 * self.gpe:5.2f} %  FPE {self.fpe_hz:5.2f} Hz  VDE {100 * self.vde:5.2f} %"


def pitch_errors(ref_f0: np.ndarray, est_f0: np.ndarray) -> PitchErrors:
    """Compare frame-aligned F0 tracks; 0 Hz marks unvoiced in both."""
    ref_f0, est_f0 = np.asarray(ref_f0, float), np.asarray(est_f0, float)
    if ref_f0.shape != est_f0.shape:
        raise ValueError(f"tracks differ in length: {ref_f0.shape} vs {est_f0.shape}")
    rv, ev = ref_f0 > 0, est_f0 > 0
    both = rv & ev
    rel = np.abs(est_f0[both] - ref_f0[both]) / ref_f0[both]
    fine = np.abs(est_f0[both] - ref_f0[both])[rel <= GROSS]
    return PitchErrors(
        gpe=float(np.mean(rel > GROSS)) if both.any() else 0.0,
        fpe_hz=float(fine.mean()) if len(fine) else 0.0,
        vde=float(np.mean(rv != ev)) if len(rv) else 0.0,
        n_frames=len(rv),
        n_both=int(both.sum()),
    )


def load_praat_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0) of a `time_s,f0_hz` CSV; 0 Hz = unvoiced."""
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"{path}: not a readable 'time_s,f0_hz' CSV ({exc})") from exc
    if data.shape[1] < 2 or len(data) < 2:
        raise ValueError(f"{path}: expected at least two rows of 'time_s,f0_hz'")
    return data[:, 0], data[:, 1]


def align(ref_times: np.ndarray, ref_f0: np.ndarray, times: np.ndarray,
          tolerance_s: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """For each time in `times`, the nearest reference frame within `tolerance_s`.

    Returns (mask of times that have one, the reference F0 at those times).
    """
    j = np.clip(np.searchsorted(ref_times, times), 1, len(ref_times) - 1)
    j = np.where(np.abs(ref_times[j - 1] - times) <= np.abs(ref_times[j] - times), j - 1, j)
    ok = np.abs(ref_times[j] - times) <= tolerance_s
    return ok, ref_f0[j][ok]
