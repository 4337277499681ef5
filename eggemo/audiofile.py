"""FLAC, OGG/Vorbis and AIFF through libsndfile (the `soundfile` package), with clear errors.

The WAV readers (eggemo.wavio, eggemo.train.audio) read WAV themselves and hand the other
containers to `read`: it tells them apart by their first bytes (not by the file name), returns
float32 samples (frames, channels) at full scale +-1, and raises `AudioFileError` naming the file
and saying what to do for a file that is cut, corrupt, empty or holds NaN, and when `soundfile`
is not installed. A cut FLAC or AIFF is refused, never read in part: FLAC's STREAMINFO and
AIFF's COMM chunk declare the length, and fewer frames than that is an error.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAMES = {"flac": "FLAC", "ogg": "OGG", "aiff": "AIFF"}
KNOWN = "WAV, FLAC, OGG/Vorbis or AIFF"


class AudioFileError(ValueError):
    """A FLAC/OGG/AIFF file that cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Info:
    fs: int
    channels: int
    frames: int
    kind: str               # "flac" | "ogg" | "aiff"
    subtype: str            # libsndfile's name of the sample format, e.g. PCM_24, VORBIS


def sniff(head: bytes) -> str | None:
    """"wav", "flac", "ogg", "aiff" from a file's first 12 bytes; None for anything else."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    return None


def kind_of(path: str | Path) -> str | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(12))


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise AudioFileError("reading FLAC, OGG or AIFF needs the soundfile package (libsndfile): "
                             "pip install soundfile, or install eggemo[train] / eggemo[host], which have it; "
                             "or convert the file to WAV") from None
    return soundfile


def _aiff_declared_frames(path: Path) -> int | None:
    """numSampleFrames of an AIFF/AIFC COMM chunk (None if there is none to read)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    pos = 12
    while pos + 8 <= len(head):
        cid, size = struct.unpack_from(">4sI", head, pos)
        if cid == b"COMM" and pos + 14 <= len(head):
            return struct.unpack_from(">I", head, pos + 10)[0]
        pos += 8 + size + (size & 1)
    return None


def info(path: str | Path) -> Info:
    """Rate, channels and length of a FLAC/OGG/AIFF file, without decoding it."""
    path = Path(path)
    sf = _soundfile()
    kind = kind_of(path)
    name = NAMES.get(kind or "", "audio")
    try:
        i = sf.info(str(path))
    except (RuntimeError, sf.SoundFileError) as exc:
        raise AudioFileError(f"{path}: not a readable {name} file ({_reason(exc)}); it is cut or corrupt: "
                             f"copy or export it again, or convert it to WAV") from None
    frames = int(i.frames)
    if kind == "aiff":
        declared = _aiff_declared_frames(path)
        if declared is not None and frames < declared:
            raise AudioFileError(f"{path}: truncated AIFF: the header declares {declared} frames, the file holds "
                                 f"{frames}; the copy or download was cut, copy or export the file again")
    return Info(int(i.samplerate), int(i.channels), frames, kind or "", str(i.subtype))


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float32 (frames, channels) at full scale +-1, and the rate in Hz."""
    path = Path(path)
    meta = info(path)
    name = NAMES.get(meta.kind, "audio")
    sf = _soundfile()
    try:
        x, fs = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.SoundFileError) as exc:
        raise AudioFileError(f"{path}: corrupt or truncated {name} file ({_reason(exc)}); "
                             f"copy or export the file again") from None
    if len(x) == 0:
        raise AudioFileError(f"{path}: the {name} file holds no samples (empty or truncated)")
    if len(x) < meta.frames:
        raise AudioFileError(f"{path}: truncated {name}: the header declares {meta.frames} frames, "
                             f"{len(x)} could be decoded; copy or export the file again")
    if not np.all(np.isfinite(x)):
        raise AudioFileError(f"{path}: the {name} file contains NaN or infinite samples; re-export it")
    return np.ascontiguousarray(x), int(fs)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text
