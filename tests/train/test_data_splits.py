"""Split properties: stratification, seeding, speaker independence, the count table."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo.train.splits import (check_split, counts, counts_table, leave_one_speaker_out, speaker_split,
                                 stratified_split)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=2, max_size=300), st.integers(0, 10_000))
def test_stratified_split_partitions_and_keeps_class_shares(labels, seed):
    labels = np.array(labels)
    train, test = stratified_split(labels, 0.2, seed)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    for c in np.unique(labels):
        n = np.sum(labels == c)
        k = np.sum(labels[test] == c)
        expected = int(round(0.2 * n))
        if n >= 2:
            expected = min(max(expected, 1), n - 1)
        assert k == expected


def test_stratified_split_is_seeded():
    labels = np.repeat(np.arange(7), 100)
    a = stratified_split(labels, 0.2, 5)
    b = stratified_split(labels, 0.2, 5)
    c = stratified_split(labels, 0.2, 6)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert len(a[1]) == 140


def test_speaker_split_and_leave_one_speaker_out_never_share_a_speaker():
    rng = np.random.default_rng(0)
    speakers = rng.choice(["03", "08", "09", "10", "11"], size=200)
    train, test = speaker_split(speakers, ["08", "10"])
    assert set(speakers[test]) == {"08", "10"}
    assert not set(speakers[train]) & set(speakers[test])
    assert len(train) + len(test) == 200
    folds = list(leave_one_speaker_out(speakers))
    assert [f[0] for f in folds] == ["03", "08", "09", "10", "11"]
    for spk, tr, te in folds:
        assert set(speakers[te]) == {spk} and spk not in set(speakers[tr])
    np.testing.assert_array_equal(np.sort(np.concatenate([f[2] for f in folds])), np.arange(200))


def test_speaker_split_errors():
    speakers = np.array(["a", "a", "b"])
    with pytest.raises(ValueError, match=r"\['z'\] are not in the corpus"):
        speaker_split(speakers, ["z"])
    with pytest.raises(ValueError, match="every speaker"):
        speaker_split(speakers, ["a", "b"])


def test_counts_table_like_the_papers_tables():
    names = ("anger", "boredom", "neutral")
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    splits = {"train": np.array([0, 1, 3, 5, 6, 7]), "test": np.array([2, 4, 8, 9])}
    np.testing.assert_array_equal(counts(labels, names, splits), [[2, 1], [1, 1], [3, 2]])
    np.testing.assert_array_equal(counts([names[i] for i in labels], names, splits), [[2, 1], [1, 1], [3, 2]])
    table = counts_table(labels, names, splits)
    lines = table.splitlines()
    assert lines[0].split("|")[1:-1] == [" emotion ", " train ", " test ", " total "]
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["anger", "2", "1", "3"]
    assert [c.strip() for c in lines[-1].split("|")[1:-1]] == ["total", "6", "4", "10"]


def test_check_split_refuses_one_emotion_and_names_emotions_too_small_to_split():
    names = ("anger", "sadness", "neutral")
    three = {"train": np.array([0, 1, 2]), "val": np.array([3, 4]), "test": np.array([5])}
    with pytest.raises(ValueError, match=r"1 emotion\(s\) \['sadness'\]: recognising emotions needs at least two"):
        check_split(np.array([1] * 6), names, three, ("train", "val", "test"))
    labels = np.array([0, 1, 2, 0, 1, 0])             # neutral only in train, sadness not in test
    with pytest.raises(ValueError, match=r"'neutral' has 1 \(train 1, val 0, test 0\)") as err:
        check_split(labels, names, three, ("train", "val", "test"))
    assert "'sadness' has 2 (train 1, val 1, test 0)" in str(err.value) and "anger" not in str(err.value)
    no_test = {"train": np.array([0, 1, 2]), "val": np.array([3, 4, 5]), "test": np.array([], np.int64)}
    check_split(np.array([0, 1, 2, 0, 1, 2]), names, no_test, ("train", "val"))   # none in test: not asked for
    check_split(np.array([0, 1, 0, 0, 1, 0]), names, three, ("train", "val"))  # neutral absent: not asked for
