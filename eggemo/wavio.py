"""WAV in and out at full scale +-1, with errors that say what is wrong. FLAC, OGG/Vorbis and
AIFF are read too, through libsndfile (eggemo.audiofile)."""
from __future__ import annotations

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
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", wavfile.WavFileWarning)
            fs, data = wavfile.read(path)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a readable WAV file ({exc}); re-export it as PCM or float WAV "
                         f"(FLAC, OGG/Vorbis and AIFF are read too)") from exc
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
