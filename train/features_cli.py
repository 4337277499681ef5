"""`eggemo features`: extract (and cache) the features of a corpus into one FeatureSet .npz."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from eggemo.options import SHARED, add_fs, add_label_set, add_noise

from .features import CROPS, F0_NORMS, FeatureConfig

F0_SOURCES = ("egg", "speech")     # data.f0_source: where the student's F0 comes from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = FeatureConfig()
    # --corpus and --f0-source, as `eggemo train`/`experiment`; the positional corpus is the old spelling
    parser.add_argument("corpus_positional", nargs="?", metavar="CORPUS", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=f"{SHARED['--corpus']} (EMO-DB layout or with manifest.csv) or a manifest CSV")
    parser.add_argument("--out", required=True, help="FeatureSet file to write (.npz)")
    parser.add_argument("--cache", default=None, help="feature cache folder (default: none)")
    parser.add_argument("--kind", default="auto", choices=("auto", "manifest", "emodb", "synthetic"))
    parser.add_argument("--f0-source", default="egg", choices=F0_SOURCES,
                        help=f"{SHARED['--f0-source']}: egg (default), or speech, a documented proxy for corpora "
                        "without EGG (config key data.f0_source)")
    add_label_set(parser, "labels outside it are refused (default: accept any)")
    add_fs(parser, "every signal is resampled to it", default=d.fs)
    parser.add_argument("--frames", type=int, default=d.T, help=f"frames per example, T (default {d.T})")
    parser.add_argument("--crop", choices=CROPS, default=d.crop, help=f"which frames a long utterance keeps (default {d.crop})")
    parser.add_argument("--f0-norm", choices=F0_NORMS, default=d.f0_norm, help=f"log-F0 normalisation group (default {d.f0_norm})")
    add_noise(parser)
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable files and report them instead of stopping")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def corpus_argument(args: argparse.Namespace) -> str:
    """The corpus from --corpus, or from the old positional spelling with a deprecation note."""
    if args.corpus_positional is not None and args.corpus is not None:
        raise SystemExit(f"eggemo features: the corpus is given twice ({args.corpus_positional!r} and "
                         f"--corpus {args.corpus!r}); give it once, as --corpus DIR")
    if args.corpus_positional is not None:
        print(f"eggemo features: note: `eggemo features CORPUS` is deprecated; write `eggemo features --corpus "
              f"{args.corpus_positional}`, as for `eggemo train` and `eggemo experiment`", file=sys.stderr)
        return args.corpus_positional
    if args.corpus is None:
        raise SystemExit("eggemo features: give the corpus: --corpus DIR (a folder in EMO-DB layout, one with "
                         "manifest.csv, `eggemo synth` output) or --corpus manifest.csv")
    return args.corpus


def main(args: argparse.Namespace) -> int:
    from .data import CorpusError, load_corpus
    from .features import extract_features
    from .featureset import npz_path
    from .splits import counts_table, stratified_split

    from eggemo.outpath import check_out_dir, check_out_file

    corpus = corpus_argument(args)
    out = npz_path(args.out)                              # numpy writes X.npz for --out X: say so, read it so
    try:
        check_out_file(out, "--out")                      # before minutes of extraction
        if args.cache is not None:
            check_out_dir(args.cache, "--cache")
        config = FeatureConfig(fs=args.fs, T=args.frames, crop=args.crop, f0_norm=args.f0_norm)
        from .noise import noise_from_args
        noise = noise_from_args(args)
        skipped: list = []
        t0 = time.perf_counter()
        items = load_corpus(corpus, kind=args.kind, f0_source=args.f0_source, label_set=args.label_set,
                            skip_bad=args.skip_bad, skipped=skipped)
        if args.f0_source == "speech":
            print("note: F0 from the speech channel (f0_source='speech'), a proxy for the EGG F0")
        fs = extract_features(items, config, cache_dir=args.cache, noise=noise, skip_bad=args.skip_bad,
                              skipped=skipped, progress=not args.quiet)
    except (CorpusError, ValueError) as exc:
        raise SystemExit(f"eggemo features: {exc}")
    fs.save(out)
    lab = np.flatnonzero(fs.labelled)
    if len(lab):
        train, test = stratified_split(fs.labels[lab], 0.2, seed=0)
        train = np.sort(np.concatenate([lab[train], np.flatnonzero(~fs.labelled)]))
        print(counts_table(fs.labels, fs.label_names, {"train": train, "test": lab[test]}))
    print(f"{fs.label_count()}" + ("" if len(lab) == len(fs) else
          "; the unlabelled ones train a student only through a teacher (`eggemo train distill`)"))
    print(f"wrote {len(fs)} utterances ({fs.logmel.shape[1]} Mel bands x {fs.logmel.shape[2]} frames) "
          f"to {out} in {time.perf_counter() - t0:.1f} s"
          + (f" (a FeatureSet file ends in .npz; `--features {args.out}` finds it too)" if str(out) != args.out else ""))
    if skipped:
        print(f"skipped {len(skipped)}:")
        for s in skipped:
            print(f"  {s.path}: {s.reason}")
    return 0
