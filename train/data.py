"""Corpora as lists of `Item`s: EMO-DB, a generic manifest CSV, the synthetic corpus.

`load_corpus(path)` finds out which layout `path` is and returns one `Item` per
utterance. Items only point at files; `read_item` decodes them.

Layouts
-------
EMO-DB   A folder of files named like ``03a01Fa.wav`` (speaker 03, text a01,
         emotion letter F, version a), either directly or in a ``wav/``
         sub-folder. The EGG (laryngograph) is a file of the same name in a
         ``laryngo/`` folder beside the speech files (or beside ``wav/``), or,
         when there is none, channel 2 of a stereo speech file.
manifest A CSV file (or a folder holding ``manifest.csv``) with the columns
         ``speech_path, speaker`` and optionally ``label``, ``egg_path``,
         ``speech_channel``, ``egg_channel``, ``utt_id``. Paths are relative to
         the CSV. Without ``egg_path`` the EGG is ``egg_channel`` (default 2)
         of the speech file. A CDESD copy or one's own sessions fit this. A row
         whose ``label`` is empty (or a manifest without the column) is an
         *unlabelled* paired recording: it trains a student through a speech
         teacher (`eggemo train distill`), never scores one.
paired   A folder of stereo recordings (speech on channel 1, EGG on channel 2)
         that are not EMO-DB names, directly or one sub-folder per speaker:
         unlabelled paired recordings, e.g. a wearable's sessions cut into
         utterances. The speaker is the sub-folder's name (else "unknown").
synthetic What `eggemo synth` writes: a manifest (stereo files, EGG on channel 2).

F0 source
---------
The student's F0 comes from the EGG (``f0_source="egg"``, the default and the
paper's method). For a corpus without EGG, ``f0_source="speech"`` runs the same
F0 core on the speech channel instead. That is a *proxy*: speech F0 suffers
from formants, noise and unvoiced fricatives that the EGG does not see, so a
model trained on it is not the EGG model. It is never chosen silently: a
corpus without EGG raises unless the caller asks for the proxy.
"""
from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import AudioError, load_channel, wav_info

# EMO-DB's emotion letters (German initials) in the corpus' own order.
EMODB_LETTERS: dict[str, str] = {
    "W": "anger",      # Wut
    "L": "boredom",    # Langeweile
    "E": "disgust",    # Ekel
    "A": "fear",       # Angst
    "F": "happiness",  # Freude
    "T": "sadness",    # Trauer
    "N": "neutral",
}
EMODB_LABELS: tuple[str, ...] = tuple(EMODB_LETTERS.values())
# The CDESD set: surprise instead of boredom.
CDESD_LABELS: tuple[str, ...] = ("anger", "surprise", "disgust", "fear", "happiness", "sadness", "neutral")
LABEL_SETS: dict[str, tuple[str, ...]] = {"emodb": EMODB_LABELS, "cdesd": CDESD_LABELS}

F0_SOURCES = ("egg", "speech")
_EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Za-z])([a-z0-9]*)\.wav$", re.IGNORECASE)


# An Item's label when nobody labelled it (a manifest row with an empty label, a paired folder).
UNLABELLED = ""


class CorpusError(ValueError):
    """A corpus that cannot be loaded as asked; the message says what to do."""


@dataclass(frozen=True)
class Item:
    """One utterance: where its speech and EGG are, its label and speaker."""
    utt_id: str
    speech_path: str
    label: str
    speaker: str
    speech_channel: int = 1          # 1-based
    egg_path: str | None = None      # None: the EGG is a channel of speech_path (or absent)
    egg_channel: int | None = 2      # 1-based channel of the EGG file; None: no EGG
    f0_source: str = "egg"           # "egg" or "speech" (the documented proxy)

    @property
    def f0_path(self) -> str:
        """The file the F0 is computed from."""
        if self.f0_source == "speech":
            return self.speech_path
        return self.egg_path or self.speech_path

    @property
    def f0_channel(self) -> int:
        if self.f0_source == "speech":
            return self.speech_channel
        if self.egg_channel is None:
            raise CorpusError(f"{self.utt_id}: no EGG; use f0_source='speech' for the speech-F0 proxy")
        return self.egg_channel


@dataclass(frozen=True)
class Skipped:
    """A file left out under skip_bad=True, and why."""
    path: str
    reason: str


def resolve_label_set(label_set: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if label_set is None or isinstance(label_set, tuple):
        return label_set
    if label_set not in LABEL_SETS:
        raise CorpusError(f"unknown label set {label_set!r}; use one of {sorted(LABEL_SETS)} or a tuple of labels")
    return LABEL_SETS[label_set]


def label_names_for(items: list[Item]) -> tuple[str, ...]:
    """Label order for a FeatureSet: EMO-DB's or CDESD's order when the labels fit one, else sorted.
    Unlabelled items add no label."""
    used = {it.label for it in items} - {UNLABELLED}
    for names in (EMODB_LABELS, CDESD_LABELS):
        if used <= set(names):
            return names
    return tuple(sorted(used))


def _fail_or_skip(path: str, reason: str, skip_bad: bool, skipped: list[Skipped] | None) -> None:
    if not skip_bad:
        raise CorpusError(f"{path}: {reason}")
    if skipped is not None:
        skipped.append(Skipped(path, reason))
    warnings.warn(f"skipped {path}: {reason}", stacklevel=3)


def _check_f0_source(f0_source: str) -> None:
    if f0_source not in F0_SOURCES:
        raise CorpusError(f"f0_source must be one of {F0_SOURCES}, got {f0_source!r}")


def load_emodb(root: str | Path, *, f0_source: str = "egg", skip_bad: bool = False,
               skipped: list[Skipped] | None = None) -> list[Item]:
    """EMO-DB layout (see the module docstring)."""
    _check_f0_source(f0_source)
    root = Path(root)
    wav_dir = root / "wav" if (root / "wav").is_dir() else root
    laryngo = next((d for d in (wav_dir / "laryngo", root / "laryngo") if d.is_dir()), None)
    files = sorted(p for p in wav_dir.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not files:
        raise CorpusError(f"{wav_dir}: no .wav files; point at the EMO-DB folder (with wav/ or the files)")
    items: list[Item] = []
    for p in files:
        m = _EMODB_NAME.match(p.name)
        if not m:
            _fail_or_skip(str(p), "not an EMO-DB name (like 03a01Fa.wav: speaker, text, emotion letter, "
                          "version); use a manifest CSV for other layouts", skip_bad, skipped)
            continue
        speaker, text, letter, version = m.groups()
        label = EMODB_LETTERS.get(letter.upper())
        if label is None:
            _fail_or_skip(str(p), f"unknown EMO-DB emotion letter {letter!r}; expected one of "
                          f"{' '.join(EMODB_LETTERS)} ({', '.join(EMODB_LABELS)})", skip_bad, skipped)
            continue
        egg_path, egg_channel = None, None
        if laryngo is not None and (laryngo / p.name).is_file():
            egg_path, egg_channel = str(laryngo / p.name), 1
        else:
            try:
                channels = wav_info(p).channels
            except AudioError as exc:
                _fail_or_skip(str(p), str(exc), skip_bad, skipped)
                continue
            if channels >= 2:
                egg_channel = 2
        if egg_channel is None and f0_source == "egg":
            _fail_or_skip(str(p), f"no EGG: neither {laryngo or wav_dir / 'laryngo'}/{p.name} nor a stereo file "
                          f"(EGG on channel 2); pass f0_source='speech' to use the speech-F0 proxy",
                          skip_bad, skipped)
            continue
        items.append(Item(utt_id=p.stem, speech_path=str(p), label=label, speaker=speaker,
                          speech_channel=1, egg_path=egg_path, egg_channel=egg_channel, f0_source=f0_source))
    if not items:
        raise CorpusError(f"{wav_dir}: no usable EMO-DB files (all {len(files)} were skipped)")
    return items


def _int_or(value: str | None, default: int | None, what: str, path: str) -> int | None:
    if value is None or str(value).strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise CorpusError(f"{path}: {what} must be a channel number (1-based), got {value!r}") from None


def load_manifest(csv_path: str | Path, *, f0_source: str = "egg",
                  label_set: str | tuple[str, ...] | None = None, skip_bad: bool = False,
                  skipped: list[Skipped] | None = None) -> list[Item]:
    """Generic manifest CSV (see the module docstring). With label_set, labels outside it are errors."""
    _check_f0_source(f0_source)
    csv_path = Path(csv_path)
    allowed = resolve_label_set(label_set)
    base = csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:     # -sig: a spreadsheet's BOM is no column
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CorpusError(f"{csv_path}: cannot read the manifest ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raw = csv_path.read_bytes()            # the error's offset is within the chunk read: find it in the file
        try:
            raw.decode("utf-8")
            start = 0
        except UnicodeDecodeError as exc:
            start = exc.start
        line = raw[:start].count(b"\n") + 1
        raise CorpusError(f"{csv_path}:{line}: the manifest is not UTF-8 text (byte {raw[start]:#04x} at "
                          f"offset {start} is no UTF-8 character; a Latin-1 or Windows-1252 file?); save it as "
                          f"UTF-8, e.g. iconv -f latin1 -t utf-8 {csv_path} > {csv_path}.utf8 && "
                          f"mv {csv_path}.utf8 {csv_path}") from None
    if not rows:
        raise CorpusError(f"{csv_path}: the manifest has no rows")
    cols = set(rows[0])
    missing = {"speech_path", "speaker"} - cols
    if missing:
        raise CorpusError(f"{csv_path}: missing column(s) {sorted(missing)}; need speech_path, speaker "
                          f"and optionally label (empty: unlabelled), egg_path, speech_channel, egg_channel, utt_id")
    items: list[Item] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=2):
        where = f"{csv_path}:{n}"
        label = (row.get("label") or "").strip().lower()
        speech = (row.get("speech_path") or "").strip()
        speaker = (row.get("speaker") or "").strip()
        if not speech or not speaker:
            _fail_or_skip(where, "empty speech_path or speaker", skip_bad, skipped)
            continue
        if label and allowed is not None and label not in allowed:
            _fail_or_skip(where, f"unknown label {label!r}; expected one of {', '.join(allowed)}",
                          skip_bad, skipped)
            continue
        speech_path = base / speech
        if not speech_path.is_file():
            _fail_or_skip(where, f"speech file {speech_path} does not exist", skip_bad, skipped)
            continue
        egg = (row.get("egg_path") or "").strip()
        egg_path = str(base / egg) if egg else None
        if egg_path is not None and not Path(egg_path).is_file():
            _fail_or_skip(where, f"EGG file {egg_path} does not exist", skip_bad, skipped)
            continue
        try:
            speech_channel = _int_or(row.get("speech_channel"), 1, "speech_channel", where)
            egg_channel = _int_or(row.get("egg_channel"), 1 if egg_path else 2, "egg_channel", where)
        except CorpusError as exc:
            _fail_or_skip(where, str(exc).split(": ", 1)[1], skip_bad, skipped)
            continue
        if egg_path is None and egg_channel is not None and f0_source == "egg":
            try:
                channels = wav_info(speech_path).channels
            except AudioError as exc:
                _fail_or_skip(where, str(exc), skip_bad, skipped)
                continue
            if channels < egg_channel:
                _fail_or_skip(where, f"no EGG: {speech_path} has {channels} channel(s), no egg_path given; "
                              f"add egg_path/egg_channel or pass f0_source='speech' for the speech-F0 proxy",
                              skip_bad, skipped)
                continue
        utt_id = (row.get("utt_id") or "").strip() or Path(speech).stem
        if utt_id in seen:
            _fail_or_skip(where, f"duplicate utt_id {utt_id!r}", skip_bad, skipped)
            continue
        seen.add(utt_id)
        items.append(Item(utt_id=utt_id, speech_path=str(speech_path), label=label, speaker=speaker,
                          speech_channel=speech_channel, egg_path=egg_path, egg_channel=egg_channel,
                          f0_source=f0_source))
    if not items:
        raise CorpusError(f"{csv_path}: no usable rows (all {len(rows)} were skipped)")
    return items


def load_corpus(path: str | Path, *, kind: str = "auto", f0_source: str = "egg",
                label_set: str | tuple[str, ...] | None = None, skip_bad: bool = False,
                skipped: list[Skipped] | None = None) -> list[Item]:
    """All utterances of the corpus at `path`.

    kind: "auto" (a .csv file or a folder with manifest.csv is a manifest,
    otherwise EMO-DB), "manifest", "emodb" or "synthetic" (a manifest).
    f0_source: "egg", or "speech" for the documented speech-F0 proxy.
    skip_bad: leave out bad entries instead of raising; each one is warned
    about and appended to `skipped` when a list is given.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    if kind not in ("auto", "manifest", "emodb", "synthetic"):
        raise CorpusError(f"kind must be auto, manifest, emodb or synthetic, got {kind!r}")
    manifest = path if path.is_file() else path / "manifest.csv"
    if kind in ("manifest", "synthetic") or (kind == "auto" and manifest.is_file()):
        if not manifest.is_file():
            raise CorpusError(f"{path}: no manifest.csv; write one (speech_path,label,speaker,...) "
                              f"or use kind='emodb'")
        return load_manifest(manifest, f0_source=f0_source, label_set=label_set, skip_bad=skip_bad,
                             skipped=skipped)
    if path.is_file():
        raise CorpusError(f"{path}: a file that is not a manifest CSV; pass the corpus folder")
    if kind == "auto" and is_paired_folder(path):
        return load_paired(path, f0_source=f0_source, skip_bad=skip_bad, skipped=skipped)
    items = load_emodb(path, f0_source=f0_source, skip_bad=skip_bad, skipped=skipped)
    allowed = resolve_label_set(label_set)
    if allowed is not None:
        bad = sorted({it.label for it in items} - set(allowed))
        if bad:
            raise CorpusError(f"{path}: labels {bad} are not in the label set {allowed}")
    return items


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())


def is_paired_folder(path: Path) -> bool:
    """A folder of recordings that is no EMO-DB copy: .wav files (directly or in sub-folders, one
    per speaker) of which none has an EMO-DB name."""
    if (path / "wav").is_dir():
        return False
    files = _wavs(path) or [p for d in sorted(path.iterdir()) if d.is_dir() for p in _wavs(d)]
    return bool(files) and not any(_EMODB_NAME.match(p.name) for p in files)


def load_paired(root: str | Path, *, f0_source: str = "egg", skip_bad: bool = False,
                skipped: list[Skipped] | None = None) -> list[Item]:
    """A folder of unlabelled paired recordings (see the module docstring): stereo .wav files,
    speech on channel 1 and EGG on channel 2, directly in `root` (speaker "unknown") or in one
    sub-folder per speaker."""
    _check_f0_source(f0_source)
    root = Path(root)
    found = [(p, "unknown") for p in _wavs(root)]
    found += [(p, d.name) for d in sorted(root.iterdir()) if d.is_dir() for p in _wavs(d)]
    items: list[Item] = []
    seen: set[str] = set()
    for p, speaker in found:
        try:
            channels = wav_info(p).channels
        except AudioError as exc:
            _fail_or_skip(str(p), str(exc), skip_bad, skipped)
            continue
        if channels < 2 and f0_source == "egg":
            _fail_or_skip(str(p), "one channel: a paired recording has the speech on channel 1 and the EGG on "
                          "channel 2 (for speech alone pass --f0-source speech)", skip_bad, skipped)
            continue
        utt_id = p.stem if speaker == "unknown" else f"{speaker}/{p.stem}"
        if utt_id in seen:
            _fail_or_skip(str(p), f"duplicate utterance name {utt_id!r}", skip_bad, skipped)
            continue
        seen.add(utt_id)
        items.append(Item(utt_id=utt_id, speech_path=str(p), label=UNLABELLED, speaker=speaker, speech_channel=1,
                          egg_path=None, egg_channel=2 if channels >= 2 else None, f0_source=f0_source))
    if not items:
        raise CorpusError(f"{root}: no usable paired recordings (all {len(found)} were skipped)")
    return items


def read_item(item: Item, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """(speech, f0 signal) of an item as float32 at rate fs. The f0 signal is the EGG, or the speech
    itself under the speech-F0 proxy. Raises AudioError for bad files."""
    speech = load_channel(item.speech_path, item.speech_channel, fs, name=f"{item.utt_id} speech")
    if item.f0_source == "speech":
        return speech, speech
    egg = load_channel(item.f0_path, item.f0_channel, fs, name=f"{item.utt_id} EGG")
    n = min(len(speech), len(egg))
    return speech[:n], egg[:n]
