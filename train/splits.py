"""Train/test splits and the count table per emotion per split.

Splits are index arrays into the corpus (or a FeatureSet), sorted ascending.

- `stratified_split`: the paper's 80/20 split, stratified by label, seeded.
  Speakers appear on both sides (speaker-dependent), as in the paper.
- `speaker_split`: named speakers held out (speaker-independent).
- `leave_one_speaker_out`: one fold per speaker (speaker-independent).
- `counts_table`: utterances per emotion per split, as a markdown table like
  the paper's Tables 1 and 5.
- `check_split`: a clear error for a one-emotion corpus or an emotion too small to split.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def stratified_split(labels: Sequence, test_fraction: float = 0.2, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx): in every class round(n_class * test_fraction) items go to test
    (at least one when the class has two or more), drawn with numpy's default_rng(seed)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("no items to split")
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        k = int(round(len(idx) * test_fraction))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx).astype(np.int64)
    return train_idx, test_idx


def speaker_split(speakers: Sequence, test_speakers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx) with the named speakers in test and everyone else in train."""
    speakers = np.asarray(speakers).astype(str)
    wanted = [str(s) for s in test_speakers]
    unknown = sorted(set(wanted) - set(speakers.tolist()))
    if unknown:
        raise ValueError(f"speakers {unknown} are not in the corpus; it has {sorted(set(speakers.tolist()))}")
    if not wanted:
        raise ValueError("name at least one test speaker")
    mask = np.isin(speakers, wanted)
    if mask.all():
        raise ValueError("every speaker is held out; leave at least one for training")
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def leave_one_speaker_out(speakers: Sequence) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(held-out speaker, train_idx, test_idx) for each speaker in sorted order."""
    speakers = np.asarray(speakers).astype(str)
    for spk in sorted(set(speakers.tolist())):
        train_idx, test_idx = speaker_split(speakers, [spk])
        yield spk, train_idx, test_idx


def check_split(labels: Sequence, label_names: Sequence[str], splits: dict[str, np.ndarray],
                required: Sequence[str]) -> None:
    """Refuse a corpus with one emotion only, or one where an emotion is missing from a part that
    needs every emotion (`required`, e.g. train and validation): too few utterances to split."""
    c = counts(labels, label_names, splits)
    present = [i for i in range(len(label_names)) if c[i].sum() > 0]
    if len(present) < 2:
        names = [label_names[i] for i in present]
        raise ValueError(f"the corpus has {len(names)} emotion(s) {names}: recognising emotions needs at least two; "
                         f"check the corpus folder (or manifest) and data.label_set")
    cols = [list(splits).index(r) for r in required]
    short = [i for i in present if any(c[i, j] == 0 for j in cols)]
    if short:
        detail = "; ".join(f"{label_names[i]!r} has {c[i].sum()} ("
                           + ", ".join(f"{n} {c[i, j]}" for j, n in enumerate(splits)) + ")" for i in short)
        raise ValueError(f"too few utterances to split: every emotion needs at least one in "
                         f"{' and '.join(required)}, but {detail}; add utterances of these emotions "
                         f"(3 or more each), or leave them out of the corpus")


def counts(labels: Sequence, label_names: Sequence[str], splits: dict[str, np.ndarray]) -> np.ndarray:
    """(n_labels, n_splits) counts. labels are indices into label_names or the names themselves."""
    labels = np.asarray(labels)
    names = list(label_names)
    if labels.dtype.kind in "iu":
        idx = labels
    else:
        lookup = {n: i for i, n in enumerate(names)}
        idx = np.array([lookup[str(v)] for v in labels], dtype=np.int64)
    out = np.zeros((len(names), len(splits)), dtype=np.int64)
    for j, part in enumerate(splits.values()):
        got = idx[np.asarray(part, dtype=np.int64)]
        out[:, j] = np.bincount(got[got >= 0], minlength=len(names))[:len(names)]   # -1: unlabelled
    return out


def unlabelled_counts(labels: Sequence, splits: dict[str, np.ndarray]) -> np.ndarray:
    """(n_splits,) how many utterances of each part carry no label (label -1 or "")."""
    labels = np.asarray(labels)
    none = labels < 0 if labels.dtype.kind in "iu" else labels == ""
    return np.array([int(none[np.asarray(p, dtype=np.int64)].sum()) for p in splits.values()], dtype=np.int64)


def counts_table(labels: Sequence, label_names: Sequence[str], splits: dict[str, np.ndarray]) -> str:
    """Markdown table: one row per emotion, one column per split, and a total row and column."""
    c = counts(labels, label_names, splits)
    head = ["emotion", *splits, "total"]
    rows = [[name, *map(str, c[i]), str(c[i].sum())] for i, name in enumerate(label_names)]
    u = unlabelled_counts(labels, splits)
    if u.any():
        rows.append(["(no label)", *map(str, u), str(u.sum())])
    total = c.sum(axis=0) + u
    rows.append(["total", *map(str, total), str(total.sum())])
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" if k else "-" * (w + 2) for k, w in enumerate(widths)) + "|"
    return "\n".join([fmt(head), sep, *map(fmt, rows)])
