"""`eggemo synth`: write a synthetic speech + EGG emotional corpus (see eggemo.train.synth_corpus)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from eggemo.options import add_fs, add_label_set

from .synth_corpus import CorpusConfig, write_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = CorpusConfig()
    parser.add_argument("--out", required=True, help="output folder: new or empty (created)")
    parser.add_argument("--replace", action="store_true",
                        help="--out holds a corpus `eggemo synth` wrote: remove its files first, then write")
    parser.add_argument("--utterances", type=int, default=d.n_utterances, help=f"default {d.n_utterances}")
    parser.add_argument("--speakers", type=int, default=d.n_speakers, help=f"default {d.n_speakers}")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    add_label_set(parser, f"the emotions the corpus speaks (default {d.label_set})", default=d.label_set)
    add_fs(parser, "of the corpus's WAVs", default=d.fs)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def clear_out(out: Path, replace: bool) -> int:
    """Make --out ready for a new corpus: a new or empty folder as it is; with replace, a corpus
    `eggemo synth` wrote has its files removed first (how many is returned). Anything else is
    refused, so a new corpus never mixes with the WAVs and manifest of an old one."""
    from .synth_corpus import foreign_entries, is_synth_corpus, remove_corpus

    if not out.is_dir() or not any(out.iterdir()):
        return 0
    ours = is_synth_corpus(out)
    foreign = foreign_entries(out) if ours else sorted(out.iterdir())
    listed = ", ".join(str(p) for p in foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    if ours and not foreign:
        if replace:
            return remove_corpus(out)
        raise ValueError(f"--out {out}: holds a corpus already (written by `eggemo synth`); give a new or empty "
                         f"folder, or add --replace to remove that corpus first")
    what = "a corpus of `eggemo synth` and other files" if ours else "files `eggemo synth` did not write"
    raise ValueError(f"--out {out}: the folder is not empty: it holds {what} ({listed}); give a new or empty "
                     f"folder" + (" (--replace removes only a corpus `eggemo synth` wrote, nothing else)"
                                  if replace else ""))


def main(args: argparse.Namespace) -> int:
    from eggemo.outpath import check_out_dir

    try:
        config = CorpusConfig(n_utterances=args.utterances, n_speakers=args.speakers, seed=args.seed,
                              label_set=args.label_set, fs=args.fs)
        check_out_dir(args.out, "--out")
        removed = clear_out(Path(args.out), args.replace)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"eggemo synth: {exc}")
    if removed:
        print(f"removed the old corpus in {args.out} ({plural(removed, 'file')})")
    t0 = time.perf_counter()
    manifest = write_corpus(args.out, config, progress=not args.quiet)
    print(f"wrote {plural(config.n_utterances, 'utterance')} of {plural(config.n_speakers, 'speaker')} "
          f"({config.label_set}) in {time.perf_counter() - t0:.1f} s: {manifest}")
    return 0
