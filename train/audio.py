"""WAV reading and writing, channel selection, resampling and signal checks.

`read_wav` parses the RIFF container itself so that every PCM width (8, 16, 24,
32 bit) and IEEE float (32, 64 bit), plain or WAVE_FORMAT_EXTENSIBLE, comes back
as float32 in [-1, 1], and so that a truncated or corrupt file gives an
`AudioError` that names the file and says what is wrong, instead of a bare
struct error. FLAC, OGG/Vorbis and AIFF files (told by their first bytes, not
their names) are read through libsndfile (`soundfile`, eggemo.audiofile), with
the same `AudioError` for a cut, corrupt or empty file.

Channels are numbered from 1, as in the corpora: channel 1 is the speech,
channel 2 the EGG in the stereo files this project writes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from eggemo import audiofile
from eggemo.audiofile import AudioFileError, sniff

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE


class AudioError(ValueError):
    """A file or signal that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class WavInfo:
    path: str
    fs: int
    channels: int
    frames: int
    bits: int
    is_float: bool


def _chunks(data: bytes, path: Path):
    """Yield (id, payload offset, declared size) of each RIFF sub-chunk."""
    pos = 12
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


# A data size that streaming writers put in the header when they cannot seek back to fill it in.
_UNKNOWN_SIZE = 0xFFFFFFFF


def _parse(path: Path, data: bytes, file_size: int | None = None) -> tuple[WavInfo, int, int]:
    """Header of a WAV file: (info, data offset, data bytes). `data` may be only the head of a
    file of `file_size` bytes; a data chunk that declares more bytes than the file holds is
    an error (a cut copy or download), not something to read half of."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV, FLAC, OGG/Vorbis or AIFF file (its first bytes are none of "
                         f"those); convert it to WAV (PCM or float) or FLAC")
    if data[:4] == b"RIFX":
        raise AudioError(f"{path}: big-endian RIFX WAV is not supported; convert it to little-endian WAV")
    fmt = None
    payload = None
    for cid, off, size in _chunks(data, path):
        if cid == b"fmt ":
            if size < 16 or off + 16 > len(data):
                raise AudioError(f"{path}: corrupt WAV (fmt chunk of {size} bytes); re-export the file")
            fmt = struct.unpack_from("<HHIIHH", data, off)
            if fmt[0] == _EXTENSIBLE and size >= 40 and off + 26 <= len(data):
                sub = struct.unpack_from("<H", data, off + 24)[0]
                fmt = (sub,) + fmt[1:]
        elif cid == b"data":
            _check_not_truncated(path, size, (len(data) if file_size is None else file_size) - off)
            payload = (off, min(size, len(data) - off))
            break
    if fmt is None:
        raise AudioError(f"{path}: corrupt WAV (no fmt chunk); re-export the file")
    if payload is None:
        raise AudioError(f"{path}: corrupt or truncated WAV (no data chunk); re-export or re-copy the file")
    tag, channels, fs, _, block, bits = fmt
    if tag not in (_PCM, _FLOAT):
        raise AudioError(f"{path}: WAV format tag {tag:#06x} is not PCM or IEEE float "
                         f"(compressed?); convert it to PCM WAV")
    if channels < 1 or fs <= 0 or bits not in ((8, 16, 24, 32) if tag == _PCM else (32, 64)):
        raise AudioError(f"{path}: unsupported WAV layout ({channels} channels, {fs} Hz, {bits} bit "
                         f"{'float' if tag == _FLOAT else 'PCM'}); convert it to 16/24-bit PCM")
    width = bits // 8
    if block != width * channels:
        raise AudioError(f"{path}: corrupt WAV header (block align {block} for {channels} x {bits} bit)")
    off, nbytes = payload
    frames = nbytes // block
    return WavInfo(str(path), int(fs), int(channels), int(frames), int(bits), tag == _FLOAT), off, frames * block


def _check_not_truncated(path: Path, declared: int, held: int) -> None:
    if declared > held and declared != _UNKNOWN_SIZE:
        raise AudioError(f"{path}: truncated WAV: its header declares {declared} bytes of samples but the file "
                         f"holds {max(held, 0)}; the copy or download was cut, copy or export the file again")


_SNDFILE = ("flac", "ogg", "aiff")      # read through libsndfile (eggemo.audiofile), told by their first bytes


def _sndfile_info(path: Path) -> WavInfo:
    try:
        i = audiofile.info(path)
    except AudioFileError as exc:
        raise AudioError(str(exc)) from None
    bits, is_float = {"FLOAT": (32, True), "DOUBLE": (64, True), "PCM_S8": (8, False), "PCM_U8": (8, False),
                      "PCM_16": (16, False), "PCM_24": (24, False), "PCM_32": (32, False)}.get(i.subtype, (32, True))
    return WavInfo(str(path), i.fs, i.channels, i.frames, bits, is_float)   # lossy codecs decode to float


def wav_info(path: str | Path) -> WavInfo:
    """Rate, channels and length of a WAV file without decoding the samples."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    if sniff(head) in _SNDFILE:
        return _sndfile_info(path)
    info, off, _ = _parse(path, head, path.stat().st_size)
    declared = struct.unpack_from("<I", head, off - 4)[0]  # the data chunk may run past what we read
    frames = min(declared, path.stat().st_size - off) // (info.channels * info.bits // 8)
    return WavInfo(info.path, info.fs, info.channels, frames, info.bits, info.is_float)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float32 (frames, channels) in [-1, 1], and the rate in Hz."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    if sniff(data[:12]) in _SNDFILE:
        try:
            return audiofile.read(path)
        except AudioFileError as exc:
            raise AudioError(str(exc)) from None
    info, off, nbytes = _parse(path, data)
    if info.frames == 0:
        raise AudioError(f"{path}: WAV has no samples (empty or truncated data chunk)")
    raw = data[off:off + nbytes]
    if info.is_float:
        x = np.frombuffer(raw, dtype="<f4" if info.bits == 32 else "<f8").astype(np.float32)
    elif info.bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif info.bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif info.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        x = v.astype(np.float32) / 8388608.0
    else:
        x = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    return x.reshape(-1, info.channels), info.fs


def write_wav(path: str | Path, x: np.ndarray, fs: int, bits: int = 16) -> None:
    """Write float samples in [-1, 1], shape (frames,) or (frames, channels), as PCM (16/24/32 bit)
    or, with bits=-32, as 32-bit float. Values beyond full scale are clipped."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: refusing to write: samples must be finite, shape (frames, channels)")
    frames, channels = x.shape
    if bits == -32:
        payload, tag, width = x.astype("<f4").tobytes(), _FLOAT, 4
    else:
        if bits not in (16, 24, 32):
            raise ValueError(f"bits must be 16, 24, 32 or -32 (float), got {bits}")
        full = float(2 ** (bits - 1))
        q = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
        width, tag = bits // 8, _PCM
        if bits == 24:
            u = (q & 0xFFFFFF).astype(np.uint32).reshape(-1)
            payload = np.stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
        else:
            payload = q.astype("<i2" if bits == 16 else "<i4").tobytes()
    block = width * channels
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE", b"fmt ", 16, tag,
                         channels, int(fs), int(fs) * block, block, width * 8, b"data", len(payload))
    Path(path).write_bytes(header + payload)


def select_channel(x: np.ndarray, channel: int, *, name: str = "signal") -> np.ndarray:
    """Channel `channel` (1-based) of a (frames, channels) array, as a 1-D float32 array.
    A mono file has only channel 1."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if not 1 <= channel <= x.shape[1]:
        raise AudioError(f"{name}: channel {channel} requested but the file has {x.shape[1]} channel(s); "
                         f"channels are numbered from 1")
    return np.ascontiguousarray(x[:, channel - 1], dtype=np.float32)


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser window) from fs_in to fs_out."""
    if fs_in == fs_out:
        return np.asarray(x, dtype=np.float32)
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sample rates must be positive, got {fs_in} -> {fs_out}")
    from scipy.signal import resample_poly

    g = gcd(int(fs_in), int(fs_out))
    return resample_poly(np.asarray(x, dtype=np.float64), fs_out // g, fs_in // g).astype(np.float32)


def check_signal(x: np.ndarray, *, name: str, fs: int, min_seconds: float = 0.05,
                 silence_dbfs: float = -80.0) -> np.ndarray:
    """Return x if it is usable; raise AudioError on NaN/inf, too short or digital silence."""
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"{name}: {bad} NaN/inf samples; the file is corrupt, re-export it")
    if len(x) < min_seconds * fs:
        raise AudioError(f"{name}: only {len(x)} samples ({len(x) / fs * 1000:.0f} ms at {fs} Hz); "
                         f"need at least {min_seconds * 1000:.0f} ms")
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    if rms <= 10 ** (silence_dbfs / 20):
        raise AudioError(f"{name}: silent (RMS {20 * np.log10(max(rms, 1e-30)):.0f} dBFS); "
                         f"wrong channel or an empty recording?")
    return x


def load_channel(path: str | Path, channel: int, fs: int, *, name: str | None = None) -> np.ndarray:
    """One channel (1-based) of a WAV file, resampled to fs and checked: float32 1-D."""
    x, fs_file = read_wav(path)
    label = name or f"{path} channel {channel}"
    y = resample(select_channel(x, channel, name=str(path)), fs_file, fs)
    return check_signal(y, name=label, fs=fs)
