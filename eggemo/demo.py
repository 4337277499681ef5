"""`eggemo demo`: what the system can do so far, end to end on bundled real data.

Today: F0 of real EGG recordings by the C core (the firmware's code), printed as a
table and plotted beside Praat's reference. The full pipeline (corpus, training,
export, firmware under QEMU, live monitor) joins as it lands.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .f0.cli import analyse_file, plot, print_table
from .f0.metrics import load_praat_csv

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ["M1_FrameSentence_EGG.wav", "M11_disyll_EGG.wav"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for plots and CSVs")
    p.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "egg_real",
                   help="folder with the bundled real EGG recordings")


def main(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    print("== eggemo demo: F0 of real EGG recordings (C core, as on the wearable) against Praat\n")
    for name in RECORDINGS:
        wav = args.data / name
        praat = wav.with_name(wav.stem + ".praat_f0.csv")
        fs, egg, track, errors, praat_on_ours = analyse_file(wav, praat_csv=praat)
        print(f"-- {name}: {len(egg) / fs:.2f} s at {fs} Hz, {len(track)} frames of 10 ms")
        print_table(track, praat_on_ours, every=4)
        print(f"   against Praat: {errors.row()}\n")
        png = args.out / f"{wav.stem}_f0.png"
        plot(png, egg, fs, track, load_praat_csv(praat), name)
        print(f"   plot: {png}\n")
    return 0
