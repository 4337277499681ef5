"""Training configuration: frozen dataclasses read from TOML (configs/*.toml).

A TOML file has one table per dataclass below ([teacher], [student], [optim], [distill], [data],
[run], [export], [features]); any table or key left out keeps its default, and an unknown table or key is
an error (a typo must not silently fall back to a default). `--set section.key=value` on the
command line overrides single values the same way.

The defaults are the paper's settings: Adam at lr 1e-3, x0.8 every 20 epochs, batch 16, early
stopping with patience 8 on the validation unweighted accuracy, tau = 2, alpha = 0.6, and the
4-layer x 256 BiLSTM student.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import HEAD_STATS, STUDENT_ARCHS, STUDENT_SIZES, TEACHER_ARCHS


@dataclass(frozen=True)
class TeacherConfig:
    arch: str = "resnet18"        # "resnet18" | "crnn"
    width: int = 64               # resnet18 base channels (64 -> 512-d feature, 11.2M parameters)
    crnn_width: int = 32          # crnn: channels of the first conv block (doubling twice)
    rnn_hidden: int = 256         # crnn: GRU units per direction (256 -> 512-d feature)
    input_norm: bool = False      # standardise each log-Mel band with the training set's mean / sd
    dropout: float = 0.0          # before the classifier
    band_moments: bool = False    # resnet18: also each band's mean and sd over the utterance (needs input_norm)
    moment_head: bool = False     # resnet18: a logistic regression on those statistics, fitted on the training
                                  # part after the network has trained, frozen, its logits added (needs band_moments)
    moment_stats: str = "meansd"  # what that regression reads per band: "meansd" (the band-statistics floor's mean
                                  # and sd) | "functionals" (also the change's mean |d| and sd, 10th/90th percentiles)
    max_epochs: int = 0           # the teacher's own epoch budget and patience (0: optim's)
    patience: int = 0


@dataclass(frozen=True)
class StudentConfig:
    arch: str = "bilstm_student"  # "bilstm_student" (the paper's) | "cnn_student" (1-D convolutions)
    layers: int = 4               # BiLSTM layers (the paper: 4; the edge student: 2) or conv blocks
    hidden: int = 256             # units per direction (the paper: 256; the edge student: 48)
    feature_dim: int = 512        # size of the distilled feature; must equal the teacher's
    stack: int = 1                # frames per LSTM step (the edge student: 3); T must be a multiple
    pooling: str = "auto"         # "auto" (BiLSTM: last, CNN: meanmax); BiLSTM: last | mean | attention;
                                  # CNN: meanmax | mean | max | stats | attention
    dropout: float = 0.0          # before the classifier
    width: int = 64               # cnn_student: channels of every conv block
    kernel: int = 5               # cnn_student: conv kernel, frames
    strides_at: tuple[int, ...] = (1, 2)   # cnn_student: blocks with stride 2
    input_moments: bool = False   # cnn_student: also the time means of every input channel and its square
    head: int = 0                 # cnn_student: a hidden layer of this width before the classifier (0 = none)
    pyramid: int = 0              # cnn_student: also mean-pool this many equal stretches of time (0 = off)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    lr_decay: float = 0.8         # multiply the learning rate by this ...
    lr_decay_every: int = 20      # ... every this many epochs
    batch_size: int = 16
    max_epochs: int = 200
    patience: int = 8             # stop after this many epochs without a better validation score
    weight_decay: float = 0.0
    optimizer: str = "adam"       # "adam" (the paper's; L2 weight decay) | "adamw" (decoupled)
    schedule: str = "step"        # "step" (x lr_decay every lr_decay_every epochs) | "cosine" (to 0 at max_epochs)
    warmup_epochs: int = 0        # linear warm-up from lr / 10
    label_smoothing: float = 0.0
    grad_clip: float = 0.0        # max gradient norm; 0 = off
    early_stop: str = "val_ua"    # "val_ua" (the paper's) | "val_loss": the validation cross-entropy
    smooth: int = 1               # early stopping reads the mean of the last `smooth` epochs' scores
    average_best: int = 1         # keep the average of the weights of the best k epochs (1 = the best)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (none in the paper's recipe). Students: the F0-frame channels;
    teachers: SpecAugment masks on the log-Mel."""
    time_mask: int = 0            # up to this many consecutive frames zeroed (student) per mask
    time_masks: int = 1
    f0_shift: float = 0.0         # per utterance, log_f0 += U(-s, s) on voiced frames (normalised units)
    f0_scale: float = 0.0         # per utterance, log_f0 *= 1 + U(-s, s)
    speed: float = 0.0            # per utterance, time axis stretched by 1 + U(-s, s) (nearest frame)
    mixup: float = 0.0            # Beta(a, a) mixup of inputs and targets; 0 = off
    spec_freq_mask: int = 0       # teacher: up to this many Mel bands masked (two masks)
    spec_time_mask: int = 0       # teacher: up to this many frames masked (two masks)


@dataclass(frozen=True)
class DistillConfig:
    tau: float = 2.0
    alpha: float = 0.6
    kind: str = "feature"         # "feature" (the paper's KL on softmax(feature / tau)) | "logit" (Hinton KD
                                  # on the class logits) | "both" (the two terms averaged)
    source: str = "teacher"       # "teacher": the trained teacher model scores the training utterances (it
                                  # trained on them); "crossfit": logistic regressions on the speech's
                                  # statistics, each scoring only utterances outside its own folds;
                                  # "crossfit_teacher": the config's teacher trained crossfit_folds times,
                                  # each without one fold of the training part, scoring that fold only
    crossfit_features: str = "spectral+f0"   # "spectral" (band statistics) | "spectral+f0" | "functionals"
                                             # (the teacher's six per band) | "functionals+f0" |
                                             # "functionals*frames" (times a regression on the EGG's
                                             # frame-channel statistics: two views)
    crossfit_folds: int = 5
    # Partly labelled corpora (unlabelled paired recordings, label -1): the student learns CE from the
    # labels it has and the teacher's soft targets from these utterances:
    kd_on: str = "all"            # "all" training utterances, or only the "unlabelled" ones
    confidence: float = 0.0       # only where the teacher's top class probability is at least this
    class_map: str = ""           # a teacher trained on another label set: TOML file mapping its
                                  # classes to the student's (eggemo.train.classmap); "" = same labels
    auto: bool = False            # `train student` on a corpus with unlabelled paired utterances distils
                                  # (from cross-fitted regressions on unlabelled_teacher statistics);
                                  # on a wholly labelled corpus it trains the student alone
    unlabelled_teacher: str = "functionals"   # what that teacher reads (baselines.crossfit_statistics)


@dataclass(frozen=True)
class DataConfig:
    corpus_kind: str = "auto"     # load_corpus kind: "auto" | "manifest" | "emodb" | "synthetic"
    f0_source: str = "egg"        # "egg", or "speech" (the documented speech-F0 proxy)
    label_set: str = ""           # "" = from the corpus; or a named set, e.g. "emodb" / "cdesd"
    cache_dir: str = ""           # feature cache; "" = $XDG_CACHE_HOME/eggemo/features
    split: str = "stratified"     # "stratified" (80/20 by label, as in the paper) | "speaker"
    test_fraction: float = 0.2    # stratified split: share held out for the test
    test_speakers: tuple[str, ...] = ()  # speaker split: speakers held out for the test
    val_fraction: float = 0.1     # share of the training part held out for early stopping
    split_seed: int = 0
    max_utterances: int = 0       # 0 = all; otherwise a stratified subset (quick demos)


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    device: str = "auto"          # "auto" (CUDA when available) | "cpu" | "cuda" | "cuda:1" ...
    threads: int = 0              # torch CPU threads; 0 = torch's default
    progress: bool = True         # tqdm progress bars


@dataclass(frozen=True)
class ExportConfig:
    # what `eggemo export` (and `eggemo demo`) deploy for a student trained with this config;
    # the export's --activations / --snap override it
    activations: str = "int8"     # "int8" | "int16" (TFLite's 16x8 mode: int16 activations, int8 weights)
    snap_weights: bool = False    # a CNN student's weights end training on their int8 grid (train/loop.py),
                                  # and the export snaps them before converting (train/snap.py)


@dataclass(frozen=True)
class Config:
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    optim: OptimConfig = OptimConfig()
    distill: DistillConfig = DistillConfig()
    augment: AugmentConfig = AugmentConfig()
    data: DataConfig = DataConfig()
    run: RunConfig = RunConfig()
    export: ExportConfig = ExportConfig()
    # Keyword arguments for the feature extractor's FeatureConfig (eggemo.train.features);
    # checked by that dataclass when features are extracted.
    features: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


def validate(cfg: Config) -> None:
    """Value checks that a type alone cannot express; errors name the key to fix."""
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ValueError(f"config {key}: {what}")
    need(cfg.teacher.arch in TEACHER_ARCHS, "teacher.arch", f"must be one of {TEACHER_ARCHS}")
    need(cfg.teacher.moment_stats in HEAD_STATS, "teacher.moment_stats", f"must be one of {tuple(HEAD_STATS)}")
    need(cfg.student.layers >= 1 and cfg.student.hidden >= 1, "student.layers/hidden", "must be >= 1")
    need(cfg.student.stack >= 1, "student.stack", "must be >= 1 (frames per LSTM step)")
    need(cfg.optim.lr > 0, "optim.lr", "must be > 0")
    need(0 < cfg.optim.lr_decay <= 1, "optim.lr_decay", "must be in (0, 1]")
    need(cfg.optim.lr_decay_every >= 1, "optim.lr_decay_every", "must be >= 1")
    need(cfg.optim.batch_size >= 1, "optim.batch_size", "must be >= 1")
    need(cfg.optim.max_epochs >= 1, "optim.max_epochs", "must be >= 1")
    need(cfg.optim.patience >= 1, "optim.patience", "must be >= 1")
    need(cfg.student.arch in STUDENT_ARCHS, "student.arch", f"must be one of {STUDENT_ARCHS}")
    need(0 <= cfg.student.dropout < 1 and 0 <= cfg.teacher.dropout < 1, "student/teacher.dropout", "must be in [0, 1)")
    need(cfg.teacher.input_norm or not cfg.teacher.band_moments, "teacher.band_moments",
         "needs teacher.input_norm = true (the band statistics are read from the standardised bands); "
         "to train without it, set teacher.band_moments and teacher.moment_head false too")
    need(cfg.teacher.band_moments or not cfg.teacher.moment_head, "teacher.moment_head",
         "needs teacher.band_moments = true (it is a regression on the band statistics)")
    need(cfg.optim.optimizer in ("adam", "adamw"), "optim.optimizer", "must be 'adam' or 'adamw'")
    need(cfg.optim.schedule in ("step", "cosine"), "optim.schedule", "must be 'step' or 'cosine'")
    need(cfg.optim.early_stop in ("val_ua", "val_loss"), "optim.early_stop", "must be 'val_ua' or 'val_loss'")
    need(cfg.optim.warmup_epochs >= 0 and cfg.optim.smooth >= 1 and cfg.optim.average_best >= 1,
         "optim.warmup_epochs/smooth/average_best", "must be >= 0 / >= 1 / >= 1")
    need(0 <= cfg.optim.label_smoothing < 1, "optim.label_smoothing", "must be in [0, 1)")
    need(cfg.optim.grad_clip >= 0, "optim.grad_clip", "must be >= 0 (0 = off)")
    need(cfg.distill.kind in ("feature", "logit", "both"), "distill.kind", "must be 'feature', 'logit' or 'both'")
    need(cfg.distill.source in ("teacher", "crossfit", "crossfit_teacher"), "distill.source",
         "must be 'teacher', 'crossfit' or 'crossfit_teacher'")
    need(cfg.distill.source == "teacher" or cfg.distill.kind == "logit", "distill.kind",
         f"must be 'logit' with distill.source = '{cfg.distill.source}' (cross-fitted targets are logits only)")
    teachers = ("spectral", "spectral+f0", "functionals", "functionals+f0", "functionals*frames")
    for key in ("crossfit_features", "unlabelled_teacher"):
        need(getattr(cfg.distill, key) in teachers, f"distill.{key}",
             "must be 'spectral', 'spectral+f0', 'functionals', 'functionals+f0' or 'functionals*frames'")
    need(cfg.distill.kd_on in ("all", "unlabelled"), "distill.kd_on", "must be 'all' or 'unlabelled'")
    need(0 <= cfg.distill.confidence < 1, "distill.confidence", "must be in [0, 1)")
    need(cfg.distill.crossfit_folds >= 2, "distill.crossfit_folds", "must be >= 2")
    need(cfg.augment.mixup >= 0 and cfg.augment.speed < 1 and cfg.augment.f0_scale < 1, "augment",
         "mixup >= 0, speed and f0_scale < 1")
    need(cfg.distill.tau > 0, "distill.tau", "must be > 0")
    need(0 <= cfg.distill.alpha <= 1, "distill.alpha", "must be in [0, 1]")
    need(cfg.export.activations in ("int8", "int16"), "export.activations", "must be 'int8' or 'int16'")
    need(cfg.data.f0_source in ("egg", "speech"), "data.f0_source", "must be 'egg' or 'speech'")
    need(cfg.data.max_utterances >= 0, "data.max_utterances", "must be >= 0 (0 = all)")
    need(cfg.data.split in ("stratified", "speaker"), "data.split", "must be 'stratified' or 'speaker'")
    need(0 < cfg.data.test_fraction < 1, "data.test_fraction", "must be in (0, 1)")
    need(0 < cfg.data.val_fraction < 1, "data.val_fraction", "must be in (0, 1)")
    need(cfg.data.split != "speaker" or bool(cfg.data.test_speakers), "data.test_speakers",
         "name the held-out speakers when data.split = 'speaker'")


def _coerce(section: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ValueError(f"config [{section}] must be a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ValueError(f"config [{section}]: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    out = {}
    for key, value in table.items():
        default = getattr(cls(), key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, tuple):
            elem = int if default and isinstance(default[0], int) else str
            ok = isinstance(value, list) and all(isinstance(v, elem) and not isinstance(v, bool) for v in value)
            value = tuple(value) if ok else value
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ValueError(f"config {section}.{key} = {value!r}: expected {type(default).__name__}")
        out[key] = value
    return cls(**out)


def from_dict(d: dict[str, Any]) -> Config:
    """Build a Config from nested tables; unknown tables or keys raise ValueError."""
    unknown = sorted(set(d) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"config: unknown table(s) {unknown}; valid tables: {sorted(_SECTIONS)}")
    parts: dict[str, Any] = {}
    for section, table in d.items():
        if section == "features":
            if not isinstance(table, dict):
                raise ValueError("config [features] must be a table")
            parts[section] = dict(table)
        else:
            parts[section] = _coerce(section, type(getattr(Config(), section)), table)
    return Config(**parts)


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (tuples as lists), the form stored in checkpoints and results."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return list(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a TOML config, then apply `section.key=value` overrides (values in TOML syntax)."""
    path = Path(path)
    try:
        d = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} not found; see configs/ for examples") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    return apply_overrides(d, overrides)


def apply_overrides(d: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Config:
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"override {item!r}: write it as section.key=value, e.g. optim.lr=5e-4")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # a bare word: take it as a string
        d.setdefault(section, {})[name] = value
    return from_dict(d)


def replace(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of cfg with some fields of some sections changed, e.g. replace(cfg, optim={"lr": 1e-4})."""
    d = to_dict(cfg)
    for section, changes in sections.items():
        d.setdefault(section, {}).update(changes)
    return from_dict(d)


def student_config(cfg: Config, n_classes: int, in_channels: int = 2) -> dict[str, Any]:
    """model_config for build_model(cfg.student.arch, ...). The paper's BiLSTM keeps the keys it
    always had when its new options are at their defaults, so old checkpoints and runs match."""
    sc = cfg.student
    if sc.arch == "cnn_student":
        return {"in_channels": in_channels, "width": sc.width, "layers": sc.layers, "kernel": sc.kernel,
                "n_classes": n_classes, "feature_dim": sc.feature_dim,
                "pooling": "meanmax" if sc.pooling == "auto" else sc.pooling,
                "strides_at": list(sc.strides_at), "dropout": sc.dropout,
                "input_moments": sc.input_moments, "head": sc.head, "pyramid": sc.pyramid}
    mc: dict[str, Any] = {"in_channels": in_channels, "hidden": sc.hidden, "layers": sc.layers,
                          "n_classes": n_classes, "feature_dim": sc.feature_dim, "stack": sc.stack}
    if sc.pooling not in ("auto", "last"):
        mc["pooling"] = sc.pooling
    if sc.dropout:
        mc["dropout"] = sc.dropout
    return mc


def teacher_config(cfg: Config, n_classes: int, n_mels: int = 80) -> dict[str, Any]:
    """model_config for build_model(cfg.teacher.arch, ...)."""
    tc = cfg.teacher
    extra: dict[str, Any] = {}
    if tc.input_norm:
        extra["n_mels"] = n_mels
    if tc.dropout:
        extra["dropout"] = tc.dropout
    if tc.band_moments:
        extra["band_moments"] = True
    if tc.moment_head:
        extra["moment_head"] = True
    if tc.moment_stats != "meansd":
        extra["moment_stats"] = tc.moment_stats
    if tc.arch == "crnn":
        return {"in_channels": 1, "n_classes": n_classes, "width": tc.crnn_width,
                "rnn_hidden": tc.rnn_hidden, **extra}
    return {"in_channels": 1, "n_classes": n_classes, "width": tc.width, **extra}


def student_size(name: str) -> dict[str, int]:
    """{"layers", "hidden", "stack"} of a named student size ("paper" or "edge")."""
    if name not in STUDENT_SIZES:
        raise ValueError(f"unknown student size {name!r}; choose one of {sorted(STUDENT_SIZES)}")
    return dict(STUDENT_SIZES[name])
