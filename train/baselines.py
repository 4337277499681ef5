"""Simple reference classifiers on per-utterance statistics, to say how hard a corpus is.

Logistic regression (scikit-learn, standardised inputs) on
  F0 statistics       from the student's input (normalised log-F0 + voicing), 14 numbers;
  spectral statistics the mean and standard deviation of every log-Mel band over
                      the utterance's frames (2 * n_mels numbers);
  both.
Scored as accuracy and unweighted accuracy (mean per-class recall) on the
paper's stratified 80/20 split (several seeds) and leave-one-speaker-out.
docs/data.md reports these numbers for the default synthetic corpus.

    python -m eggemo.train.baselines features.npz [--seeds 0 1 2] [--confusion]
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from .featureset import FeatureSet
from .splits import leave_one_speaker_out, stratified_split

F0_STAT_NAMES = ("mean", "std", "p5", "p95", "range", "slope", "first_third", "last_third", "final_move",
                 "voiced_frac", "segments_per_s", "mean_seg_s", "abs_delta", "span_s")


def f0_statistics(f0: np.ndarray, hop_s: float = 0.01) -> np.ndarray:
    """(len(F0_STAT_NAMES),) statistics of one (T, 2) student input: normalised log-F0 and voiced flag."""
    x, v = f0[:, 0].astype(np.float64), f0[:, 1] > 0.5
    idx = np.flatnonzero(v)
    if len(idx) < 2:
        return np.zeros(len(F0_STAT_NAMES))
    y = x[idx]
    span = (idx[-1] - idx[0] + 1) * hop_s
    slope = np.polyfit(idx * hop_s, y, 1)[0]
    third = max(1, len(y) // 3)
    starts = np.flatnonzero(np.diff(np.concatenate([[0], v.astype(int)])) == 1)
    n_seg = len(starts)
    last_seg = y[-min(len(y), 20):]
    cont = np.diff(idx) == 1
    delta = np.abs(np.diff(y))[cont]
    return np.array([y.mean(), y.std(), np.percentile(y, 5), np.percentile(y, 95),
                     np.percentile(y, 95) - np.percentile(y, 5), slope, y[:third].mean(), y[-third:].mean(),
                     last_seg[-1] - last_seg[0], len(idx) / max(1, idx[-1] - idx[0] + 1), n_seg / span,
                     len(idx) * hop_s / max(n_seg, 1), delta.mean() if len(delta) else 0.0, span])


def spectral_statistics(logmel: np.ndarray) -> np.ndarray:
    """(2 * n_mels,) mean and std of each band over the frames that are not padding."""
    m = _unpadded(logmel)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)])


def _unpadded(logmel: np.ndarray, min_frames: int = 1) -> np.ndarray:
    """The frames of a log-Mel that are not padding (all bands at the floor), or all of them when
    fewer than min_frames are left."""
    keep = logmel.max(axis=0) > logmel.min() + 1e-3
    return logmel[:, keep] if keep.sum() >= min_frames else logmel


def statistics(fs: FeatureSet) -> dict[str, np.ndarray]:
    """Per-utterance statistics. The F0 statistics read only the log-F0 and voicing channels,
    whatever else the student's input holds, so the floor is the same for every recipe."""
    pair = np.stack([fs.channel("log_f0"), fs.channel("voiced")], axis=2)
    f0 = np.stack([f0_statistics(x) for x in pair])
    spec = np.stack([spectral_statistics(x) for x in fs.logmel])
    return {"f0": f0, "spectral": spec, "spectral+f0": np.concatenate([spec, f0], axis=1)}


def spectral_functionals(logmel: np.ndarray) -> np.ndarray:
    """(6 * n_mels,) per band over the frames that are not padding: mean, sd, mean |change| and sd
    of the frame-to-frame change, 10th and 90th percentiles (what the recipe teacher's fused
    regression reads, models.band_functionals)."""
    m = _unpadded(logmel, min_frames=2)                     # a change needs two frames
    d = np.diff(m, axis=1)
    return np.concatenate([m.mean(axis=1), m.std(axis=1), np.abs(d).mean(axis=1), d.std(axis=1),
                           np.percentile(m, 10, axis=1), np.percentile(m, 90, axis=1)])


def crossfit_statistics(fs: FeatureSet, name: str) -> np.ndarray:
    """The statistics a cross-fitted distillation teacher reads (distill.crossfit_features): the
    band statistics of the speech ("spectral", "functionals", either "+f0"), or "frames", the
    statistics of every frame channel the student reads (frame_statistics)."""
    if name == "frames":
        return frame_statistics(fs)
    if name.startswith("functionals"):
        X = np.stack([spectral_functionals(x) for x in fs.logmel])
        return np.concatenate([X, statistics(fs)["f0"]], axis=1) if name == "functionals+f0" else X
    return statistics(fs)[name]


def frame_statistics(fs: FeatureSet, f0: np.ndarray | None = None) -> np.ndarray:
    """The 14 F0 statistics and, for every other channel the student reads (energy, periodicity,
    the EGG's contact quotient, jitter, shimmer, deltas), its mean, sd, 5th and 95th percentile
    over the voiced frames: the floor for a student that reads more than F0. f0: the F0 statistics
    when already computed (statistics(fs)["f0"])."""
    if f0 is None:
        pair = np.stack([fs.channel("log_f0"), fs.channel("voiced")], axis=2)
        f0 = np.stack([f0_statistics(x) for x in pair])
    cols = [f0]
    v = fs.channel("voiced") > 0.5
    for name in fs.f0_channels:
        if name in ("log_f0", "voiced"):
            continue
        x = fs.channel(name)
        rows = []
        for xi, vi in zip(x, v):
            z = xi[vi] if vi.sum() > 1 else np.zeros(2, np.float32)
            rows.append([z.mean(), z.std(), np.percentile(z, 5), np.percentile(z, 95)])
        cols.append(np.array(rows))
    return np.concatenate(cols, axis=1)


def _predict(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
    model.fit(X[train], y[train])
    return model.predict(X[test])


def fit_score(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int
              ) -> tuple[float, float, float]:
    """(accuracy, UA, WA) of the regression fitted on `train`, scored on `test`. WA is the
    accuracy (weighted by class size), as in eggemo.train.evaluate."""
    pred = _predict(X, y, train, test)
    acc = float(np.mean(pred == y[test]))
    recalls = [np.mean(pred[y[test] == c] == c) for c in range(n_classes) if np.any(y[test] == c)]
    return acc, float(np.mean(recalls)), acc


def _fit_score(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_classes: int
               ) -> tuple[float, float]:
    return fit_score(X, y, train, test, n_classes)[:2]


def evaluate(fs: FeatureSet, seeds: Sequence[int] = (0, 1, 2)) -> list[dict]:
    """One row per (feature group, protocol): mean and sd of accuracy and UA."""
    stats = statistics(fs)
    y, k = fs.labels, len(fs.label_names)
    rows = []
    for name, X in stats.items():
        strat = [_fit_score(X, y, *stratified_split(y, 0.2, seed), k) for seed in seeds]
        loso = [_fit_score(X, y, tr, te, k) for _, tr, te in leave_one_speaker_out(fs.speakers)]
        for protocol, scores in (("stratified 80/20", strat), ("leave-one-speaker-out", loso)):
            a = np.array(scores)
            rows.append({"features": name, "protocol": protocol, "n": len(a),
                         "acc": a[:, 0].mean(), "acc_sd": a[:, 0].std(), "ua": a[:, 1].mean(),
                         "ua_sd": a[:, 1].std()})
    return rows


def stratified_folds(y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0 .. folds-1) of every label in y: each class dealt round-robin over the folds in
    a random order, so every fold holds about the same share of each class."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold[members] = np.arange(len(members)) % folds
    return fold


def teacher_parts(name: str) -> tuple[str, ...]:
    """The regressions of a cross-fitted teacher: "functionals*frames" is the product of two, one on
    the speech's band functionals and one on the EGG's frame-channel statistics (two views of each
    paired recording); a name without "*" is one regression."""
    return tuple(name.split("*"))


def product_log_probs(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The normalised product of the regressions' class probabilities (sum of log-probabilities)."""
    z = np.sum(parts, axis=0)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_log_probs(X: np.ndarray, y: np.ndarray, fit: np.ndarray, score: np.ndarray, n_classes: int,
                  floor: float = 1e-6) -> np.ndarray:
    """(len(score), n_classes) log-probabilities of the standardised logistic regression fitted on
    the utterances `fit`, on the utterances `score`; floored at `floor`, which is also what a class
    absent from `fit` gets."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(X[fit], y[fit])
    out = np.full((len(score), n_classes), np.log(floor))
    out[:, model.classes_] = np.log(np.maximum(model.predict_proba(X[score]), floor))
    return out


def crossfit_log_probs(X: np.ndarray, y: np.ndarray, idx: np.ndarray, n_classes: int, folds: int = 5,
                       seed: int = 0) -> np.ndarray:
    """(len(idx), n_classes) out-of-fold log-probabilities of the logistic regression on the
    utterances `idx`: each is scored by a regression fitted on the other folds only, so a
    teacher built from them never grades an utterance it was fitted on."""
    idx = np.asarray(idx)
    out = np.full((len(idx), n_classes), np.log(1e-6))
    lab = np.flatnonzero(y[idx] >= 0)              # label -1: unlabelled
    fold = np.full(len(idx), -1, np.int64)
    fold[lab] = stratified_folds(y[idx[lab]], folds, seed)
    for f in range(folds):
        score = np.flatnonzero(fold == f)
        if len(score):
            out[score] = fit_log_probs(X, y, idx[(fold != f) & (fold >= 0)], idx[score], n_classes)
    if len(lab) < len(idx):      # the unlabelled utterances: by the regression on every labelled one
        score = np.flatnonzero(fold < 0)
        out[score] = fit_log_probs(X, y, idx[lab], idx[score], n_classes)
    return out


def loso_confusion(fs: FeatureSet, features: str = "f0") -> np.ndarray:
    """(k, k) counts, rows true, columns predicted, pooled over the leave-one-speaker-out folds."""
    X, y, k = statistics(fs)[features], fs.labels, len(fs.label_names)
    cm = np.zeros((k, k), dtype=np.int64)
    for _, tr, te in leave_one_speaker_out(fs.speakers):
        np.add.at(cm, (y[te], _predict(X, y, tr, te)), 1)
    return cm


def confusion_table(cm: np.ndarray, names: Sequence[str]) -> str:
    short = [n[:4] for n in names]
    lines = ["| true \\ predicted | " + " | ".join(short) + " | recall |", "|---" * (len(names) + 2) + "|"]
    for i, n in enumerate(names):
        lines.append(f"| {n} | " + " | ".join(str(v) for v in cm[i]) + f" | {cm[i, i] / max(cm[i].sum(), 1):.2f} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = ["| features | protocol | runs | accuracy | UA |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['features']} | {r['protocol']} | {r['n']} | {r['acc']:.3f} ± {r['acc_sd']:.3f} "
                     f"| {r['ua']:.3f} ± {r['ua_sd']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features", help="a FeatureSet .npz (eggemo features --out)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--confusion", action="store_true", help="also print leave-one-speaker-out confusion matrices")
    args = ap.parse_args(argv)
    fs = FeatureSet.load(args.features)
    print(f"{len(fs)} utterances, {len(set(fs.speakers.tolist()))} speakers, chance {1 / len(fs.label_names):.3f}")
    print(table(evaluate(fs, args.seeds)))
    if args.confusion:
        for name in ("f0", "spectral+f0"):
            print(f"\nleave-one-speaker-out confusion, {name} statistics:\n")
            print(confusion_table(loso_confusion(fs, name), fs.label_names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

