"""`eggemo train teacher|student|distill`: corpus -> features -> split -> train -> test report.

    eggemo train teacher --corpus corpus/ --out runs/teacher
    eggemo train student --corpus corpus/ --out runs/student --size edge
    eggemo train distill --corpus corpus/ --teacher runs/teacher/best.pt --out runs/cmed --size edge

Settings come from a TOML config (--config, default configs/eggemo.toml: eggemo's recipe; the
paper's is configs/default.toml) with
single values overridable by --set section.key=value. The split (train / validation / test) is
drawn from data.split_seed; the test part is only scored once, after training, with the best
checkpoint. Multi-process: `torchrun --nproc_per_node=N -m eggemo.cli train ...`.

The functions here (`load_features`, `make_splits`, `run_training`) are shared with
`eggemo experiment`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, load_config, replace, student_config, student_size, teacher_config
from .featureset import FeatureSet

REPO_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MODES = ("teacher", "student", "distill")


def default_config_path() -> Path:
    return REPO_CONFIGS / "eggemo.toml"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eggemo" / "features"


# --- data: corpus -> FeatureSet -> splits -------------------------------------------------------

def load_features(cfg: Config, *, corpus: str | Path | None = None, features: str | Path | None = None,
                  noise: Any = None, progress: bool = True) -> tuple[FeatureSet, dict[str, Any]]:
    """(FeatureSet, feature_config dict) from a corpus folder (through the cached feature
    extractor) or from a FeatureSet saved as .npz. `noise`: a NoiseConfig for the speech channel."""
    if (corpus is None) == (features is None):
        raise ValueError("give exactly one of --corpus DIR or --features FILE.npz")
    from eggemo.core.feat import VQ_INPUTS

    from .features import FeatureConfig, extract_features
    try:
        fcfg = FeatureConfig(**cfg.features)
    except TypeError as exc:
        valid = [f.name for f in dataclasses.fields(FeatureConfig)]
        raise ValueError(f"config [features]: {exc}; valid keys: {valid}") from None
    if features is not None:
        return features_from_file(Path(features), fcfg, noise)
    from .data import load_corpus, resolve_label_set
    label_set = resolve_label_set(cfg.data.label_set or None)
    vq = [c for c in fcfg.student_inputs if c in VQ_INPUTS]
    if cfg.data.f0_source == "speech" and vq:
        print(f"note: the student reads {', '.join(vq)}, the EGG's voice quality, but F0 comes from the speech "
              f"(the proxy): they will be measured on the speech waveform, where they mean little (on RAVDESS "
              f"validation they cost 1.7 points); leave them out with --set 'features.student_inputs=[...]'",
              file=sys.stderr)
    items = load_corpus(corpus, kind=cfg.data.corpus_kind, f0_source=cfg.data.f0_source, label_set=label_set)
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
    fs = extract_features(items, fcfg, cache_dir=cache, label_names=label_set, noise=noise, progress=progress)
    fs = fs.select(fcfg.student_inputs, f"the features of {corpus}")
    fc = dataclasses.asdict(fcfg)
    fc["student_inputs"] = list(fcfg.student_inputs)     # JSON's form, so stored settings compare equal
    fc["f0_source"] = cfg.data.f0_source
    return fs, fc


# Settings that change a FeatureSet's arrays: where the file and the config differ, the file's hold.
FILE_SETTINGS = ("fs", "T", "crop", "f0_norm", "n_mels", "hop_ms", "win_ms", "f0_fmin", "f0_fmax", "f0_frame_ms")


def features_from_file(path: Path, fcfg: Any, noise: Any = None) -> tuple[FeatureSet, dict[str, Any]]:
    """The student's channels (fcfg.student_inputs, by name) of a FeatureSet .npz, and the feature
    settings to record: the file's own, where it recorded them. A channel the file lacks is an error
    saying how to re-extract; settings that differ from the config are said, not hidden."""
    from .featureset import find_npz

    path = find_npz(path)              # `eggemo features --out X` wrote X.npz
    if not path.is_file():
        raise FileNotFoundError(f"features file {path} not found; write one with `eggemo features --corpus DIR "
                                f"--out {path}`")
    if noise is not None:
        raise ValueError("noise can only be added when extracting from a corpus (--corpus)")
    fs = FeatureSet.load(path)
    fs = fs.select(fcfg.student_inputs, str(path))
    stored = fs.feature_config
    if stored is None:
        print(f"note: {path} was written by an older eggemo and records no feature settings (F0 normalisation, "
              f"crop, F0 range); the checkpoint will record only its channels and length, and the export and the "
              f"host will assume the config's settings. Extract it again with `eggemo features` to record them.",
              file=sys.stderr)
        fc = {k: v for k, v in dataclasses.asdict(fcfg).items() if k in FILE_SETTINGS}
        fc.update({"T": int(fs.f0.shape[1]), "n_mels": int(fs.logmel.shape[1])})
    else:
        ours = dataclasses.asdict(fcfg)
        differ = [f"{k}={stored[k]!r} (config: {ours[k]!r})" for k in FILE_SETTINGS
                  if k in stored and k in ours and stored[k] != ours[k]]
        if differ:
            print(f"note: {path} was extracted with {', '.join(differ)}; its arrays hold those settings, so they are "
                  f"the ones used and recorded", file=sys.stderr)
        fc = {**ours, **{k: v for k, v in stored.items() if k != "student_inputs"}}
    fc["student_inputs"] = list(fs.f0_channels)
    fc["source"] = str(path)
    return fs, fc


def make_splits(fs: FeatureSet, cfg: Config) -> dict[str, np.ndarray]:
    """{"train", "val", "test"} index arrays. The test part is the paper's stratified 20 % (or the
    named speakers); validation, for early stopping, is a stratified share of the rest. Both are
    drawn from the utterances that carry a label; the unlabelled ones all join the training part
    (under held-out speakers, those of the held-out speakers stay out: they are the new wearer's)."""
    from .splits import check_split, speaker_split, stratified_split
    dc = cfg.data
    pool = np.arange(len(fs))
    if dc.max_utterances and dc.max_utterances < len(fs):
        _, pool = stratified_split(fs.labels, dc.max_utterances / len(fs), dc.split_seed + 1000)
    unlabelled = pool[~fs.labelled[pool]]
    pool = pool[fs.labelled[pool]]
    if len(pool) == 0:
        raise ValueError(f"none of the {len(unlabelled)} utterances carries a label: a test part needs labelled "
                         f"utterances (give them a label in the manifest, or distil onto this corpus with "
                         f"--features/--corpus of a labelled one beside it)")
    if dc.split == "speaker":
        tr, te = speaker_split(fs.speakers[pool], dc.test_speakers)
        unlabelled = unlabelled[~np.isin(fs.speakers[unlabelled].astype(str), [str(s) for s in dc.test_speakers])]
    else:
        tr, te = stratified_split(fs.labels[pool], dc.test_fraction, dc.split_seed)
    fit, val = stratified_split(fs.labels[pool][tr], dc.val_fraction, dc.split_seed + 1)
    splits = {"train": np.sort(np.concatenate([pool[tr][fit], unlabelled])).astype(np.int64),
              "val": pool[tr][val], "test": pool[te]}
    # named test speakers need not have spoken every emotion; a stratified test part has them all
    check_split(fs.labels, fs.label_names, splits, ("train", "val") if dc.split == "speaker" else tuple(splits))
    return splits


def split_summary(fs: FeatureSet, splits: dict[str, np.ndarray]) -> str:
    from .splits import counts_table
    return counts_table(fs.labels, fs.label_names, splits)


# --- one run -------------------------------------------------------------------------------------

def run_training(mode: str, cfg: Config, fs: FeatureSet, feature_config: dict[str, Any], out_dir: str | Path,
                 *, teacher_ckpt: str | Path | None = None, tsne: bool = True) -> dict[str, Any]:
    """Train one model (mode teacher | student | distill) on the split of `fs`, score the best
    checkpoint on the test part, write the report next to the checkpoint, return the summary."""
    from .checkpoint import load_checkpoint, save_checkpoint
    from .evaluate import evaluate, write_report
    from .loop import train

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if feature_config.get("source"):       # a file's were checked as it was read; a corpus's come from extraction
        fs.check_finite(str(feature_config["source"]), "Extract them again with `eggemo features`")
    else:
        cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
        fs.check_finite("the features extracted from the corpus", f"A file of the corpus or the feature cache "
                        f"({cache}) is damaged: extract them again with an empty cache (--set data.cache_dir=DIR)")
    splits = make_splits(fs, cfg)
    unlabelled = int((~fs.labelled[splits["train"]]).sum())
    if mode == "student" and cfg.distill.auto and unlabelled and teacher_ckpt is None:
        return _auto_distill(cfg, fs, feature_config, out_dir, unlabelled, len(splits["train"]), tsne)
    if mode != "distill":
        # only a teacher's soft targets reach the utterances nobody labelled
        splits["train"] = splits["train"][fs.labelled[splits["train"]]]
        if unlabelled:
            print(f"note: the {mode} trains on the {len(splits['train'])} labelled training utterances; the {unlabelled} "
                  f"without a label teach a student only through a teacher (`eggemo train distill`)", file=sys.stderr)
    parts = {k: fs.subset(v) for k, v in splits.items()}
    n_classes = len(fs.label_names)
    teacher = None
    if mode == "teacher":
        arch, mc = cfg.teacher.arch, teacher_config(cfg, n_classes, n_mels=int(fs.logmel.shape[1]))
    else:
        arch, mc = cfg.student.arch, student_config(cfg, n_classes, in_channels=int(fs.f0.shape[2]))
    teacher_outputs = None
    check_teacher_option(mode, cfg, teacher_ckpt)
    if mode == "distill" and cfg.distill.source == "crossfit":
        teacher_outputs = (crossfit_targets(parts["train"], cfg), None)
    elif mode == "distill" and cfg.distill.source == "crossfit_teacher":
        teacher_outputs = (crossfit_teacher_targets(parts["train"], parts["val"], cfg, feature_config, out_dir), None)
    elif mode == "distill":
        if teacher_ckpt is None:
            raise ValueError("distill needs --teacher CHECKPOINT (train one with `eggemo train teacher`)")
        teacher, tck = load_checkpoint(teacher_ckpt)
        check_teacher(tck, fs, splits, feature_config, teacher_ckpt)
        if cfg.distill.class_map or list(tck["label_names"]) != list(fs.label_names):
            teacher_outputs = (mapped_teacher_targets(teacher, tck, parts["train"], cfg), None)
            teacher = None
        elif cfg.distill.kind != "logit" and getattr(teacher, "feature_dim", None) != cfg.student.feature_dim:
            raise ValueError(f"teacher feature is {teacher.feature_dim}-d but student.feature_dim is "
                             f"{cfg.student.feature_dim}; set student.feature_dim to match")
    out = Path(out_dir)
    for name in ("test_results.json", "test_confusion.png", "test_tsne.png"):   # an earlier run's: no longer true
        (out / name).unlink(missing_ok=True)
    # the test split goes into every best.pt from the first on, so an interrupted run's can be scored on it
    run_info = {"test_utt_ids": parts["test"].utt_ids.tolist(),
                "teacher_checkpoint": str(teacher_ckpt) if teacher_ckpt else None}
    result = train(arch, mc, parts["train"], parts["val"], cfg, teacher=teacher, teacher_outputs=teacher_outputs,
                   out_dir=out_dir, feature_config=feature_config, run_info=run_info)
    if int(os.environ.get("RANK", "0")) != 0:
        return {}
    ckpt = result.checkpoint_dict
    try:
        test = evaluate(result.model, arch, parts["test"])
    except KeyboardInterrupt:
        from .loop import mark_interrupted
        mark_interrupted(out / "best.pt", ckpt, "while scoring the test part")
        raise
    ckpt["metrics"] = {**ckpt["metrics"], "test_ua": test.ua, "test_wa": test.wa, "state": "tested"}
    save_checkpoint(ckpt, out / "best.pt")
    extra = {"mode": mode, "arch": arch, "model_config": mc, "seed": cfg.run.seed, "best_epoch": result.best_epoch,
             "epochs_run": len(result.history), "stopped_early": result.stopped_early,
             "val_ua": result.best_val_ua, "n_train": len(parts["train"]), "n_val": len(parts["val"]),
             "n_test": len(parts["test"]), "checkpoint": str(out / "best.pt"),
             "train_seconds": float(sum(r["seconds"] for r in result.history))}
    return write_report(test, out, "test", extra=extra, tsne=tsne, seed=cfg.run.seed)


def _auto_distill(cfg: Config, fs: FeatureSet, feature_config: dict[str, Any], out_dir: str | Path,
                  unlabelled: int, n_train: int, tsne: bool) -> dict[str, Any]:
    """The recipe on a corpus with unlabelled paired utterances (distill.auto): the student trained
    on the labelled ones alone and the student distilled from the regressions' soft targets on all
    of them (docs/distill.md), each in its own sub-folder; the one with the better validation UA
    is kept in out_dir (a tie keeps the student alone). Its report says which, and both scores."""
    import shutil

    print(f"note: {unlabelled} of the {n_train} training utterances carry no label; the recipe (distill.auto) "
          f"trains the student on the labelled ones alone and distilled from regressions on "
          f"{cfg.distill.unlabelled_teacher} statistics fitted on them, and keeps the better on validation",
          file=sys.stderr)
    out = Path(out_dir)
    alone = run_training("student", replace(cfg, distill={"auto": False}), fs, feature_config, out / "alone",
                         tsne=False)
    dcfg = replace(cfg, distill={"auto": False, "source": "crossfit", "kind": "logit",
                                 "crossfit_features": cfg.distill.unlabelled_teacher})
    distilled = run_training("distill", dcfg, fs, feature_config, out / "distilled", tsne=False)
    if not alone:                                   # not the main rank
        return {}
    keep = distilled if distilled["val_ua"] > alone["val_ua"] else alone
    kept = Path(keep["checkpoint"]).parent
    for f in kept.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    print(f"note: kept the {'distilled student' if keep is distilled else 'student trained alone'}: validation UA "
          f"{100 * distilled['val_ua']:.1f} distilled against {100 * alone['val_ua']:.1f} alone (test "
          f"{100 * distilled['ua']:.1f} / {100 * alone['ua']:.1f}); both are in {out}/alone and {out}/distilled",
          file=sys.stderr)
    return {**keep, "checkpoint": str(out / "best.pt"), "recipe_choice": "distill" if keep is distilled else "student",
            "val_ua_alone": alone["val_ua"], "val_ua_distilled": distilled["val_ua"]}


def mapped_teacher_targets(teacher, tck: dict[str, Any], train_set: FeatureSet, cfg: Config) -> np.ndarray:
    """A teacher trained on another label set, through the class map (distill.class_map): its
    log-probabilities over the student's classes on the training utterances. It teaches through
    its class probabilities, so the distillation is on the logits."""
    from .classmap import resolve
    from .evaluate import model_inputs, predict

    cmap = resolve(cfg.distill.class_map or None, tck["label_names"], train_set.label_names)
    if cfg.distill.kind != "logit":
        raise ValueError(f"a teacher with another label set ({list(tck['label_names'])}) teaches through its "
                         f"class probabilities: distil with --set distill.kind=logit (the config has "
                         f"{cfg.distill.kind!r})")
    print(f"  class map: {cmap.describe()}", file=sys.stderr)
    logits = predict(teacher, model_inputs(tck["arch"], train_set))[0]
    return cmap.map_log_probs(logits)


def crossfit_teacher_targets(train_set: FeatureSet, val_set: FeatureSet, cfg: Config,
                             feature_config: dict[str, Any], out_dir: str | Path) -> np.ndarray:
    """Out-of-fold logits of the config's teacher on the training utterances: the teacher is
    trained distill.crossfit_folds times, each time on the training part without one stratified
    fold (early-stopping on the same validation part), and scores only the fold it did not see.
    Each fold's teacher is kept in out_dir/crossfit_teacher{k}/."""
    from .baselines import stratified_folds
    from .evaluate import model_inputs, predict
    from .loop import train

    arch = cfg.teacher.arch
    mc = teacher_config(cfg, len(train_set.label_names), n_mels=int(train_set.logmel.shape[1]))
    fold = stratified_folds(train_set.labels, cfg.distill.crossfit_folds, cfg.run.seed)
    out = np.zeros((len(train_set), len(train_set.label_names)), np.float32)
    for k in range(cfg.distill.crossfit_folds):
        held, rest = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
        if len(held) == 0:
            raise ValueError(f"distill.crossfit_folds = {cfg.distill.crossfit_folds} is more than the "
                             f"{len(train_set)} training utterances can fill; lower it")
        print(f"  cross-fitted teacher {k + 1}/{cfg.distill.crossfit_folds}: trains on {len(rest)} utterances, "
              f"scores {len(held)}", file=sys.stderr)
        res = train(arch, mc, train_set.subset(rest), val_set, cfg, out_dir=Path(out_dir) / f"crossfit_teacher{k}",
                    feature_config=feature_config)
        device = next(res.model.parameters()).device
        out[held] = predict(res.model, model_inputs(arch, train_set.subset(held)), device=device)[0]
    return out


def crossfit_targets(train_set: FeatureSet, cfg: Config) -> np.ndarray:
    """Out-of-fold log-probabilities of logistic regressions on the training utterances' speech
    statistics (distill.crossfit_features): teacher targets that no regression fitted itself."""
    from .baselines import crossfit_log_probs, crossfit_statistics, product_log_probs, teacher_parts

    return product_log_probs([crossfit_log_probs(crossfit_statistics(train_set, part), train_set.labels,
                                                 np.arange(len(train_set)), len(train_set.label_names),
                                                 cfg.distill.crossfit_folds, seed=cfg.run.seed)
                              for part in teacher_parts(cfg.distill.crossfit_features)])


SOURCES = {"crossfit": "cross-fitted regressions on the speech statistics",
           "crossfit_teacher": "teachers it trains itself on folds of the training part"}


def check_teacher_option(mode: str, cfg: Config, teacher: str | Path | None) -> None:
    """A --teacher checkpoint is read only where it is used: by distill with distill.source =
    "teacher". Anywhere else it would be ignored (and recorded in best.pt as if it had taught):
    refuse it. Where it is used, it must be a readable checkpoint."""
    if teacher is None:
        return
    if mode != "distill":
        raise ValueError(f"--teacher {teacher}: only `eggemo train distill` reads a teacher; "
                         f"leave --teacher out of `eggemo train {mode}`")
    source = cfg.distill.source
    if source != "teacher":
        raise ValueError(f"--teacher {teacher}: this config distils from {SOURCES.get(source, source)} "
                         f"(distill.source = '{source}'), which reads no teacher checkpoint; to distil from this "
                         f"teacher add --set distill.source=teacher, or leave --teacher out")
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(teacher)
    if ck["kind"] != "teacher":
        raise ValueError(f"{teacher} is a {ck['kind']} checkpoint; distill needs a teacher")


# Feature settings a teacher never reads: where the features came from, and everything about the
# F0 frames (it reads the log-Mel only), so one teacher serves students with other frame channels.
TEACHER_BLIND = ("source", "student_inputs", "f0_source", "f0_norm", "f0_fmin", "f0_fmax", "f0_frame_ms")


def check_teacher(tck: dict[str, Any], fs: FeatureSet, splits: dict[str, np.ndarray],
                  feature_config: dict[str, Any], path: str | Path) -> None:
    """The teacher must be a teacher, share the labels and features, and not have seen the test part."""
    if tck["kind"] != "teacher":
        raise ValueError(f"{path} is a {tck['kind']} checkpoint; distill needs a teacher")
    seen = set(tck["train_config"].get("test_utt_ids") or [])
    test_ids = set(fs.utt_ids[splits["test"]].tolist())
    # a teacher of another corpus (none of its test utterances is one of this corpus's) saw none of
    # this corpus: its split does not matter
    other_corpus = bool(seen) and not (seen & set(fs.utt_ids.tolist()))
    if seen and not other_corpus and seen != test_ids:
        raise ValueError(f"{path} was trained with another test split; its training data may include this "
                         f"run's test utterances. Train the teacher with the same data settings "
                         f"(data.split_seed, data.test_fraction, ...)")
    own = {k: v for k, v in feature_config.items() if k not in TEACHER_BLIND}
    theirs = {k: v for k, v in tck["feature_config"].items() if k not in TEACHER_BLIND}
    if own != theirs:
        raise ValueError(f"{path} was trained on other features ({theirs}) than this run ({own})")


# --- command line --------------------------------------------------------------------------------

def add_common(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="corpus folder (EMO-DB layout, manifest.csv, or `eggemo synth` output)")
    src.add_argument("--features", help="a FeatureSet .npz (`eggemo features --out`) instead of a corpus")
    p.add_argument("--config", default=str(default_config_path()),
                   help="TOML config (default: configs/eggemo.toml, eggemo's recipe; configs/default.toml "
                        "is the paper's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value, e.g. --set optim.max_epochs=30 (repeatable)")
    p.add_argument("--seed", type=int, help="run.seed (model init and batch order)")
    p.add_argument("--f0-source", choices=("egg", "speech"), help="the channel the F0 core runs on (data.f0_source) "
                   "when features are extracted from --corpus; 'speech' is a proxy for corpora without EGG "
                   "(default from the config: egg)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("mode", choices=MODES, help="teacher (speech log-Mel), student (EGG F0), or distill (CMED)")
    add_common(p)
    p.add_argument("--out", required=True, help="run folder: best.pt, log.csv, log.jsonl, test_* reports")
    p.add_argument("--teacher", help="teacher checkpoint for distill (with --set distill.source=teacher)")
    p.add_argument("--class-map", metavar="FILE", help="distill: how the teacher's classes meet the student's "
                   "when it was trained on another label set (TOML, one line per teacher class: "
                   "teacher_class = \"student_class\"; configs/classmaps/ has examples; docs/distill.md)")
    p.add_argument("--size", choices=("paper", "edge"), help="switch the student to the paper's BiLSTM of this size, "
                   "replacing the config's student architecture (the recipe's is a CNN): paper (4x256) or edge "
                   "(2x48, 3 frames per step)")
    p.add_argument("--arch", choices=("resnet18", "crnn"), help="teacher arch (default from the config)")
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plot (slow for big test sets)")


def config_from_args(args: argparse.Namespace) -> Config:
    try:
        cfg = load_config(args.config, args.overrides)
    except ValueError as exc:
        raise ValueError(with_list_example(str(exc))) from None
    changes: dict[str, dict[str, Any]] = {}
    if getattr(args, "seed", None) is not None:
        changes["run"] = {"seed": args.seed}
    if getattr(args, "size", None):
        changes["student"] = {"arch": "bilstm_student", **student_size(args.size)}
    if getattr(args, "arch", None):
        changes["teacher"] = {"arch": args.arch}
    if getattr(args, "class_map", None):
        if getattr(args, "mode", "distill") != "distill":
            raise ValueError(f"--class-map: only `eggemo train distill` reads a teacher; leave it out of "
                             f"`eggemo train {args.mode}`")
        changes["distill"] = {"class_map": str(args.class_map), "source": "teacher", "kind": "logit"}
    if getattr(args, "f0_source", None):
        if getattr(args, "features", None):
            raise ValueError(f"--f0-source applies when features are extracted from --corpus; {args.features} "
                             f"already holds its F0 (extract it again with `eggemo features --corpus DIR "
                             f"--f0-source {args.f0_source} --out FILE.npz`)")
        changes["data"] = {"f0_source": args.f0_source}
    return replace(cfg, **changes) if changes else cfg


def with_list_example(message: str) -> str:
    """A config error about a list setting, with how to write a list on the command line."""
    m = re.match(r"config (\w+)\.(\w+) = .*: expected tuple$", message)
    if m is None:
        return message
    example = '["01","02"]' if m.group(2).endswith("speakers") else '["a","b"]'
    return (f"{m.group(1)}.{m.group(2)} is a list of strings; write it in TOML, e.g. "
            f"--set {m.group(1)}.{m.group(2)}={example} ({message})")


def main(args: argparse.Namespace) -> int:
    from eggemo.outpath import check_out_dir

    try:
        check_out_dir(args.out, "--out")      # before the features and the training
        cfg = config_from_args(args)
        if args.mode == "distill" and not args.teacher and cfg.distill.source == "teacher":
            raise ValueError("distill needs --teacher CHECKPOINT (train one with `eggemo train teacher`)")
        check_teacher_option(args.mode, cfg, args.teacher)     # before minutes of feature extraction
        fs, fc = load_features(cfg, corpus=args.corpus, features=args.features, progress=cfg.run.progress)
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"{fs.label_count()}")
            print(split_summary(fs, make_splits(fs, cfg)))
        summary = run_training(args.mode, cfg, fs, fc, args.out, teacher_ckpt=args.teacher, tsne=not args.no_tsne)
    except (ValueError, FileNotFoundError) as exc:
        print(f"eggemo train: {exc}", file=sys.stderr)
        return 2
    if summary:
        print(json.dumps({k: summary[k] for k in ("mode", "ua", "wa", "best_epoch", "epochs_run", "checkpoint")}, indent=2))
    return 0
