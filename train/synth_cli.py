"""`eggemo synth`: write a synthetic speech + EGG emotional corpus (see eggemo.train.synth_corpus)."""
from __future__ import annotations

import argparse
import time

from .synth_corpus import CorpusConfig, write_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = CorpusConfig()
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--utterances", type=int, default=d.n_utterances, help=f"default {d.n_utterances}")
    parser.add_argument("--speakers", type=int, default=d.n_speakers, help=f"default {d.n_speakers}")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    parser.add_argument("--set", dest="label_set", choices=("emodb", "cdesd"), default=d.label_set,
                        help="emotion set: EMO-DB's seven, or CDESD's (surprise instead of boredom)")
    parser.add_argument("--fs", type=int, default=d.fs, help=f"sample rate, Hz (default {d.fs})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def main(args: argparse.Namespace) -> int:
    from eggemo.outpath import check_out_dir

    try:
        config = CorpusConfig(n_utterances=args.utterances, n_speakers=args.speakers, seed=args.seed,
                              label_set=args.label_set, fs=args.fs)
        check_out_dir(args.out, "--out")
    except ValueError as exc:
        raise SystemExit(f"eggemo synth: {exc}")
    t0 = time.perf_counter()
    manifest = write_corpus(args.out, config, progress=not args.quiet)
    print(f"wrote {plural(config.n_utterances, 'utterance')} of {plural(config.n_speakers, 'speaker')} "
          f"({config.label_set}) in {time.perf_counter() - t0:.1f} s: {manifest}")
    return 0
