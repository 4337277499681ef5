"""WAV in and out at full scale +-1, with errors that say what is wrong. FLAC, OGG/Vorbis and
AIFF are read too, through libsndfile (eggemo.audiofile)."""
from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from scipy.io import wavfile


def read_wav(path: str | Path) -> tuple[int, np.ndarray]:
    """(rate, samples as float32 of shape (n, channels)) at full scale +-1.

    Integer PCM of any width is divided by its full-scale value. FLAC, OGG/Vorbis and AIFF
    (told by their first bytes) are read with libsndfile. Raises ValueError for a missing,
    unreadable, truncated or empty file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a WAV file; give the path of a .wav file in it")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if _kind(path) in ("flac", "ogg", "aiff"):        # through libsndfile, with the same kind of errors
        from .audiofile import read

        x, fs = read(path)
        return fs, x
    _check_header(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", wavfile.WavFileWarning)
            fs, data = wavfile.read(path)
    except (ValueError, EOFError, OSError, struct.error, ZeroDivisionError) as exc:
        # struct.error and ZeroDivisionError: scipy's own reading of a header it did not check
        raise ValueError(f"{path}: not a readable WAV file ({exc or type(exc).__name__}); re-export it as PCM or "
                         f"float WAV (FLAC, OGG/Vorbis and AIFF are read too)") from None
    _refuse_truncated(path, caught)
    if data.size == 0:
        raise ValueError(f"{path}: the WAV file holds no samples")
    if data.ndim == 1:
        data = data[:, None]
    if data.dtype == np.uint8:
        out = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        out = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        out = data.astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{path}: the WAV file contains NaN or infinite samples")
    return int(fs), out


def _check_header(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose header is cut before its sample data or declares no channel
    or a rate of 0 Hz, which scipy reads into a struct.error or a ZeroDivisionError. Files that
    are not RIFF/WAVE are left to scipy, which names what it found."""
    cut = (f"{path}: truncated WAV: the file ends inside its header, before any sample data; the copy or "
           f"download was cut, copy or export the file again")
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
            if head[:4] in (b"RIFF", b"RIFX", b"RF64") and len(head) < 12:
                raise ValueError(cut)
            return
        order = ">" if head[:4] == b"RIFX" else "<"
        fmt = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:            # no data chunk before the end of the file
                raise ValueError(cut)
            cid, size = struct.unpack(order + "4sI", chunk)
            if cid == b"fmt ":
                body = fh.read(min(size, 40))
                if len(body) < 16:
                    raise ValueError(cut if len(body) < min(size, 16) else
                                     f"{path}: corrupt WAV header: its fmt chunk holds {size} bytes, fewer than the "
                                     f"16 every WAV has; re-export the file as PCM or float WAV")
                _tag, channels, rate = struct.unpack_from(order + "HHI", body)
                if channels == 0:
                    raise ValueError(f"{path}: corrupt WAV header: it declares 0 channels; re-export the file "
                                     f"as PCM or float WAV")
                if rate == 0:
                    raise ValueError(f"{path}: corrupt WAV header: it declares a sample rate of 0 Hz; re-export "
                                     f"the file as PCM or float WAV")
                fmt = body
                fh.seek(size - len(body) + (size & 1), 1)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError(f"{path}: corrupt WAV header: its sample data comes before any fmt chunk "
                                     f"(sample rate, channels); re-export the file as PCM or float WAV")
                return
            else:
                fh.seek(size + (size & 1), 1)


def _kind(path: Path) -> str | None:
    from .audiofile import kind_of

    try:
        return kind_of(path)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc}); check the path and its permissions") from None


def _refuse_truncated(path: Path, caught: list[warnings.WarningMessage]) -> None:
    """scipy reads a WAV whose data ends before its header says with only a warning: refuse it."""
    for w in caught:
        if "EOF prematurely" in str(w.message):
            raise ValueError(f"{path}: truncated WAV: {w.message}; the copy or download was cut, "
                             f"copy or export the file again")
    for w in caught:
        if not issubclass(w.category, wavfile.WavFileWarning):   # not ours to hide
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def write_wav(path: str | Path, fs: int, samples: np.ndarray) -> None:
    """Write float samples (n,) or (n, channels) as 16-bit PCM, clipping at full scale."""
    pcm = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(Path(path), int(fs), pcm)
