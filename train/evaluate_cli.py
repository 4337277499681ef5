"""`eggemo evaluate CHECKPOINT`: UA, WA, confusion matrix, t-SNE and a results JSON.

    eggemo evaluate runs/cmed/best.pt --corpus corpus/ --out runs/cmed/eval
    eggemo evaluate runs/teacher/best.pt --corpus corpus/ --snr 5 --noise babble --out runs/teacher/snr5

By default only the checkpoint's own test utterances are scored (their ids are stored in the
checkpoint from the first epoch on, so an interrupted run's best model is scored on its test part
too, with a note); --split all scores every utterance, for a corpus the model has never seen.
Features are rebuilt with the checkpoint's feature_config, so the inputs match what the model
was trained on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eggemo.options import SHARED, add_noise

from .config import from_dict


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a best.pt written by `eggemo train`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help=SHARED["--corpus"])
    src.add_argument("--features", help=SHARED["--features"])
    p.add_argument("--split", choices=("test", "all"), default="test",
                   help="test: the checkpoint's held-out utterances (default); all: every utterance")
    add_noise(p)
    p.add_argument("--out", required=True, help="folder for NAME_results.json, NAME_confusion.png, NAME_tsne.png")
    p.add_argument("--name", default="eval", help="file name prefix (default: eval)")
    p.add_argument("--no-tsne", action="store_true")


def unfinished_run(ckpt: dict) -> str:
    """Why the checkpoint's run has no test score ("" when it finished and was scored)."""
    metrics = ckpt["metrics"]
    state = metrics.get("state")
    if state == "interrupted":
        return f"is from a training run interrupted {metrics.get('interrupted', '')}".rstrip()
    if state == "training":
        return "is from a training run that stopped before it ended (killed, or still running)"
    if state is None and "test_ua" not in metrics:
        return "has no test score (its training run did not finish, or was not `eggemo train`)"
    return ""


def no_test_split(path: str, ckpt: dict) -> str:
    """What to do with a checkpoint that records no test split: never score the corpus it trained on."""
    why = unfinished_run(ckpt)
    return (f"{path} records no test split" + (f" and {why}" if why else "") + ", so which utterances it "
            f"never trained on is unknown; --split all on the corpus it trained on would score its training "
            f"utterances. Train it again to the end with `eggemo train` (its test part is scored then and recorded), "
            f"or score it on a corpus it has never seen with --split all")


def main(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .cli import load_features
    from .evaluate import evaluate, write_report

    from eggemo.outpath import check_out_dir

    try:
        check_out_dir(args.out, "--out")
        model, ckpt = load_checkpoint(args.checkpoint)
        tc = {k: v for k, v in ckpt["train_config"].items() if k in ("teacher", "student", "optim", "distill",
                                                                     "data", "run", "features")}
        fc = {k: v for k, v in ckpt["feature_config"].items() if k not in ("source", "f0_source")}
        cfg = from_dict({**tc, "features": fc})
        from .noise import noise_from_args
        noise = noise_from_args(args)
        fs, _ = load_features(cfg, corpus=args.corpus, features=args.features, noise=noise)
        if list(fs.label_names) != list(ckpt["label_names"]):
            raise ValueError(f"the corpus has labels {list(fs.label_names)}, the checkpoint {ckpt['label_names']}")
        if args.split == "test":
            wanted = ckpt["train_config"].get("test_utt_ids")
            if not wanted:
                raise ValueError(no_test_split(args.checkpoint, ckpt))
            pos = {u: i for i, u in enumerate(fs.utt_ids.tolist())}
            missing = [u for u in wanted if u not in pos]
            if missing:
                raise ValueError(f"{len(missing)} test utterances of the checkpoint are not in this corpus "
                                 f"(e.g. {missing[:3]}); give the corpus it was trained on, or, for a corpus it "
                                 f"has never seen, --split all")
            fs = fs.subset(np.array([pos[u] for u in wanted]))
        unfinished = unfinished_run(ckpt)
        if unfinished:
            print(f"eggemo evaluate: note: {args.checkpoint} {unfinished}: these are the scores of its best model "
                  f"so far", file=sys.stderr)
        result = evaluate(model, ckpt["arch"], fs)
        extra = {"checkpoint": str(args.checkpoint), "arch": ckpt["arch"], "kind": ckpt["kind"],
                 "split": args.split, "snr_db": None if noise is None else noise.snr_db, "noise": None if noise is None else noise.kind,
                 "run_state": ckpt["metrics"].get("state")}
        summary = write_report(result, Path(args.out), args.name, extra=extra, tsne=not args.no_tsne)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eggemo evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("ua", "wa", "n", "split")}, indent=2))
    return 0
