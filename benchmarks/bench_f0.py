"""F0 of 60 s of 16 kHz EGG: the C routine, the NumPy reference, librosa yin/pyin and Praat,
timed in one run, with accuracy against the synthetic ground truth beside each speed.

    python benchmarks/bench_f0.py [--seconds 60] [--repeat 3]

Prints a table; asserts nothing. Real-time factor = audio seconds / CPU seconds on one core
(process CPU time, best of --repeat, so other load on a shared machine does not count).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core for every method
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from eggemo.eggsynth import contour, synth_egg  # noqa: E402
from eggemo.core.f0 import f0_track  # noqa: E402
from eggemo.core.f0.metrics import pitch_errors  # noqa: E402

FS = 16000
FMIN, FMAX = 50.0, 500.0


def test_signal(seconds: float, seed: int = 0):
    """Alternating male/female phrases with pauses, jitter, shimmer, drift and noise."""
    rng = np.random.default_rng(seed)
    knots_t, knots_f, t = [0.0], [0.0], 0.0
    while t < seconds - 1.0:
        base = rng.choice([rng.uniform(90, 130), rng.uniform(180, 250)])
        start = t + rng.uniform(0.1, 0.3)
        dur = rng.uniform(0.6, 2.0)
        knots_t += [start, start + 1e-4, start + dur / 2, start + dur, start + dur + 1e-4]
        knots_f += [0.0, base, base * rng.uniform(0.8, 1.3), base * rng.uniform(0.7, 1.0), 0.0]
        t = start + dur
    knots_t.append(seconds)
    knots_f.append(0.0)
    f0 = contour(seconds, FS, knots_t, knots_f)
    return synth_egg(f0, FS, jitter=0.006, shimmer=0.04, drift=2.0, noise_snr_db=30, seed=seed)


def truth_at(s, times: np.ndarray) -> np.ndarray:
    idx = np.clip(np.round((times - s.frame_times[0]) / 0.01).astype(int), 0, len(s.f0_frames) - 1)
    return s.f0_frames[idx]


def run_eggemo(backend):
    def run(x):
        tr = f0_track(x, FS, backend=backend)
        return tr.times, tr.f0
    return run


def run_yin(x):
    import librosa
    f = librosa.yin(x, fmin=FMIN, fmax=FMAX, sr=FS, frame_length=1024, hop_length=160, center=False)
    times = (np.arange(len(f)) * 160 + 512) / FS
    return times, f  # yin has no voicing decision: every frame counts as voiced


def run_pyin(x):
    import librosa
    f, voiced, _ = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=FS, frame_length=1024, hop_length=160, center=False)
    times = (np.arange(len(f)) * 160 + 512) / FS
    return times, np.where(voiced, np.nan_to_num(f), 0.0)


def run_praat(x):
    import parselmouth
    snd = parselmouth.Sound(x.astype(np.float64), sampling_frequency=FS)
    pitch = snd.to_pitch_ac(time_step=0.01, pitch_floor=FMIN, pitch_ceiling=FMAX)
    return pitch.xs(), pitch.selected_array["frequency"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    s = test_signal(args.seconds)
    x = s.egg.astype(np.float32)
    methods = [("eggemo C (cffi)", run_eggemo("c")), ("eggemo NumPy reference", run_eggemo("numpy")),
               ("Praat to_pitch_ac", run_praat), ("librosa yin", run_yin), ("librosa pyin", run_pyin)]
    rows = []
    for name, fn in methods:
        try:
            fn(x[: FS * 2])  # warm-up (imports, JIT)
        except ImportError as exc:
            rows.append((name, None, None, f"not installed: {exc.name}"))
            continue
        repeat = 1 if "pyin" in name else args.repeat
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()  # CPU time of this process: robust to other load on the machine
            times, f0 = fn(x)
            best = min(best, time.process_time() - t0)
        rows.append((name, best, pitch_errors(truth_at(s, np.asarray(times)), np.asarray(f0)), ""))
    base = rows[0][1]
    praat = next((r[1] for r in rows if r[0].startswith("Praat") and r[1]), None)
    print(f"\nF0 of {args.seconds:.0f} s of {FS // 1000} kHz synthetic EGG (jitter, shimmer, drift, 30 dB SNR), one core\n")
    print("| method | time (s) | x real time | time / C | time / Praat | GPE % | FPE Hz | VDE % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, sec, err, note in rows:
        if sec is None:
            print(f"| {name} | {note} | | | | | | |")
            continue
        vde = f"{100 * err.vde:.2f}" + (" (no voicing)" if name == "librosa yin" else "")
        print(f"| {name} | {sec:.3f} | {args.seconds / sec:,.0f} | {sec / base:.1f} | "
              f"{sec / praat if praat else float('nan'):.2f} | {100 * err.gpe:.2f} | {err.fpe_hz:.2f} | {vde} |")


if __name__ == "__main__":
    main()
