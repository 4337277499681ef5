"""`eggemo f0 FILE.wav`: F0 and voice quality of an EGG recording as a table, a CSV and a plot."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from eggemo.options import add_egg_channel

from eggemo.core.f0 import BACKENDS, F0Params, F0Track, f0_track
from eggemo.core.f0.metrics import PitchErrors, align, load_praat_csv, pitch_errors


CSV_COLUMNS = ("time_s", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer")


def csv_table(track: F0Track) -> np.ndarray:
    """The --csv rows, columns as CSV_COLUMNS."""
    return np.column_stack([track.times, track.f0, track.voiced, track.periodicity, track.energy_db,
                            track.cq, track.jitter, track.shimmer])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("wav", type=Path, help="WAV file holding the EGG")
    add_egg_channel(p)
    p.add_argument("--fmin", type=float, default=F0Params.fmin)
    p.add_argument("--fmax", type=float, default=F0Params.fmax)
    p.add_argument("--backend", choices=BACKENDS, default="c")
    p.add_argument("--praat", type=Path, default=None, help="Praat reference CSV (time_s,f0_hz) to compare with")
    p.add_argument("--csv", type=Path, default=None,
                   help=f"write a CSV, one row per frame: {', '.join(CSV_COLUMNS)}; cq is the EGG contact "
                        "quotient (0..1), jitter and shimmer are ratios (0.01 = 1 %%), all three 0 on unvoiced frames")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of the EGG and its F0")
    p.add_argument("--every", type=int, default=5, help="print every N-th frame (0: no table)")


def egg_channel(samples: np.ndarray, channel: int | None) -> np.ndarray:
    n_ch = samples.shape[1]
    ch = channel if channel is not None else n_ch   # the last: a corpus WAV has speech in 1, EGG in 2
    if not 1 <= ch <= n_ch:
        raise ValueError(f"channel {ch} asked for, but the file has {n_ch} channel(s)")
    return samples[:, ch - 1]


def print_table(track: F0Track, praat_f0: np.ndarray | None, every: int) -> None:
    head = (f"{'time s':>8} {'F0 Hz':>8} {'voiced':>6} {'period.':>7} {'dB':>7} {'CQ':>5} {'jitter':>7} {'shimmer':>7}"
            + (f" {'Praat Hz':>9}" if praat_f0 is not None else ""))
    print(head)
    for i in range(0, len(track), max(every, 1)):
        line = (f"{track.times[i]:8.3f} {track.f0[i]:8.2f} {'yes' if track.voiced[i] else 'no':>6} "
                f"{track.periodicity[i]:7.3f} {track.energy_db[i]:7.1f} {track.cq[i]:5.2f} "
                f"{100 * track.jitter[i]:6.2f}% {100 * track.shimmer[i]:6.2f}%")
        if praat_f0 is not None:
            line += f" {praat_f0[i]:9.2f}" if np.isfinite(praat_f0[i]) else f" {'-':>9}"
        print(line)


def summary(track: F0Track) -> str:
    """Medians over the voiced frames: F0, contact quotient, jitter and shimmer."""
    v = track.voiced
    if not v.any():
        return "median F0 0.0 Hz"
    med = {name: float(np.median(getattr(track, name)[v])) for name in ("f0", "cq", "jitter", "shimmer")}
    return (f"median F0 {med['f0']:.1f} Hz, CQ {med['cq']:.2f}, jitter {100 * med['jitter']:.2f} %, "
            f"shimmer {100 * med['shimmer']:.2f} %")


def plot(path: Path, egg: np.ndarray, fs: int, track: F0Track, praat: tuple[np.ndarray, np.ndarray] | None,
         title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=[1, 1.4])
    ax1.plot(np.arange(len(egg)) / fs, egg, lw=0.5, color="0.3")
    ax1.set_ylabel("EGG (full scale)")
    ax1.set_title(title)
    if praat is not None:
        pv = praat[1] > 0
        ax2.plot(praat[0][pv], praat[1][pv], "o", ms=6, mfc="none", color="tab:orange", label="Praat (to_pitch_ac)")
    v = track.voiced
    ax2.plot(track.times[v], track.f0[v], ".", ms=5, color="tab:blue", label="eggemo (C core)")
    ax2.set_ylabel("F0 (Hz)")
    ax2.set_xlabel("time (s)")
    ax2.legend(loc="best")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def analyse_file(wav: Path, channel: int | None = None, params: F0Params | None = None, backend: str = "c",
                 praat_csv: Path | None = None) -> tuple[int, np.ndarray, F0Track, PitchErrors | None, np.ndarray | None]:
    from eggemo.wavio import read_wav

    fs, samples = read_wav(wav)
    egg = egg_channel(samples, channel)
    track = f0_track(egg, fs, params, backend=backend)
    errors, praat_on_ours = None, None
    if praat_csv is not None:
        rt, rf = load_praat_csv(praat_csv)
        ok, ref = align(rt, rf, track.times)
        errors = pitch_errors(ref, track.f0[ok])
        praat_on_ours = np.full(len(track), np.nan)
        praat_on_ours[ok] = ref
    return fs, egg, track, errors, praat_on_ours


def main(args: argparse.Namespace) -> int:
    from eggemo.outpath import check_out_file

    params = F0Params(fmin=args.fmin, fmax=args.fmax)
    try:
        for option, path in (("--csv", args.csv), ("--plot", args.plot)):
            if path is not None:
                check_out_file(path, option, make_parent=True)   # missing folders are made, as --plot did
        fs, egg, track, errors, praat_on_ours = analyse_file(args.wav, args.egg_channel, params, args.backend, args.praat)
    except ValueError as exc:
        raise SystemExit(f"eggemo f0: {exc}")
    print(f"{args.wav.name}: {len(egg) / fs:.2f} s at {fs} Hz, {len(track)} frames, "
          f"{int(track.voiced.sum())} voiced, {summary(track)}")
    if args.every:
        print_table(track, praat_on_ours, args.every)
    if errors is not None:
        print(f"against Praat ({errors.n_frames} frames, {errors.n_both} voiced in both): {errors.row()}")
    if args.csv:
        np.savetxt(args.csv, csv_table(track), delimiter=",", header=",".join(CSV_COLUMNS), comments="", fmt="%.6g")
        print(f"wrote {args.csv}")
    if args.plot:
        plot(args.plot, egg, fs, track, load_praat_csv(args.praat) if args.praat else None, args.wav.name)
        print(f"wrote {args.plot}")
    return 0
