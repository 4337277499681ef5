"""Session recording: the EGG as WAV, and F0, predictions and link events as JSONL.

A recording folder holds

    egg.wav          int16 mono at the board's rate: every RAW sample received, in order
    session.jsonl    one JSON object per line, in the order the monitor handled them

Both are written block by block and flushed to the OS after each block: the WAV's data first,
then its header sizes, so a process killed at any moment (kill -9) leaves every flushed block
readable -- the header counts at most the samples that are on disk. Nothing is buffered for
later. Lines of session.jsonl have a "type" and "t" (seconds since the session began):

    session     the first line: format, start time, port, model, versions
    config      {"segmenter", "mode", "norm", "norm_fixed"}   what the pipeline was set up with
    link        {"state": "up" | "down", "error"}     the port came or went
    gap         {"wav_sample", "seconds"}             a disconnection: the WAV jumps here
    hello       the board's HELLO fields ("cost_unit" and "flags" since the board's own model;
                older recordings lack them)
    start       {"fs", "mode"}                        a stream began (F0 indices restart at 0)
    f0          {"source": "board" | "host", "index", "f0_hz", "voiced", "periodicity", "energy_db",
                 "cq", "jitter", "shimmer"}   (the last three since protocol version 2; older
                                              recordings lack them and replay with zeros)
    raw         {"first", "n", "wav_sample"}          a RAW block and where it is in egg.wav (null: not in it,
                                                      the board sent it at another rate than the WAV's)
    prediction  Prediction.as_dict() plus "latency_ms"
    emotion     the board's own prediction (a firmware built with a model): the EMOTION frame's
                fields ("first", "last", "n_voiced", "reason", "label", "model_id", "cost", "mu",
                "sigma", "scores") plus "reason_name", "label_name", "cost_unit", "probs"
    compare     {"outcome", "first", "last", "board", "host"}   a board prediction beside the host's
                of the same frames (monitor.OUTCOMES), or one without a partner
    model_mismatch {"board", "host", "model"}      the board's model id is not --model's
    end         {"reason"}                            the stream ended (stream_end, link_lost, ...)
    rejected    {"frame", "frame_type", "seq", "payload", "field", "error"}   a board frame refused for a
                value outside its range or a payload of the wrong length (docs/protocol.md "Ranges"): the
                payload as received (hex), the field ("f0.energy_db") and why; it never reached the
                pipeline, and a replay counts it (ReplayResult.payload_errors) instead of replaying it
    refused     {"command", "status"} (+ "reason", "reason_text" from a NACK)   the board refused a command
    status      the board's STATUS counters
    version_mismatch {"board", "host", "message"}  the board speaks another protocol version: stopped
    silent      {"seconds"}                           the board has not answered since the link came up
    stats       the host's link counters ("payload_errors" and, per field, "payload_error_fields";
                periodically and at the end); at the end also
                "predictions", "board_predictions" and "agreement" (Agreement.summary(), null
                without a model)

Readers take the types they know and pass over the others, so a recording made before a type
existed reads the same, and one made after reads in an older eggemo.
"""
from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT = "eggemo-session-v1"
WAV_NAME = "egg.wav"
JSONL_NAME = "session.jsonl"
_WAV_HEADER = 44


def _wav_header(fs: int, n_samples: int) -> bytes:
    data = 2 * n_samples
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, fs, 2 * fs, 2, 16) + b"data" + struct.pack("<I", data))


class WavAppender:
    """16-bit mono PCM WAV that grows block by block and is valid after every append."""

    def __init__(self, path: str | Path, fs: int) -> None:
        self.path = Path(path)
        self.fs = int(fs)
        self.n = 0
        self._fh: IO[bytes] = open(self.path, "wb")
        self._fh.write(_wav_header(self.fs, 0))
        self._fh.flush()

    def append(self, samples: np.ndarray) -> int:
        """Append int16 samples; returns the sample position they start at."""
        x = np.asarray(samples)
        if x.dtype != np.int16:
            raise TypeError(f"WAV samples must be int16, got {x.dtype}")
        pos = self.n
        self._fh.seek(_WAV_HEADER + 2 * self.n)
        self._fh.write(x.astype("<i2").tobytes())
        self._fh.flush()                      # the data is on disk before the header counts it
        self.n += len(x)
        self._fh.seek(4)
        self._fh.write(struct.pack("<I", 36 + 2 * self.n))
        self._fh.seek(40)
        self._fh.write(struct.pack("<I", 2 * self.n))
        self._fh.flush()
        return pos

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


class Recorder:
    """Writes one session into a folder (created). Call ``flush()`` after each handled block."""

    def __init__(self, folder: str | Path, header: dict[str, Any] | None = None, *, fsync: bool = False) -> None:
        from eggemo.outpath import check_out_dir

        self.folder = check_out_dir(folder, "--record")
        if self.folder.exists() and any(self.folder.iterdir()):
            raise ValueError(f"--record {self.folder}: the folder is not empty; pick a new folder so that no "
                             f"earlier recording is overwritten")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.t0 = time.time()
        self._jsonl: IO[str] = open(self.folder / JSONL_NAME, "w", encoding="utf-8")
        self.wav: WavAppender | None = None
        self.write("session", format=FORMAT, started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.t0)),
                   **(header or {}))
        self.flush()

    def write(self, type_: str, **fields: Any) -> None:
        line = json.dumps({"type": type_, "t": round(time.time() - self.t0, 4), **fields}, default=_jsonable,
                          separators=(",", ":"))
        self._jsonl.write(line + "\n")

    def samples(self, fs: int, samples: np.ndarray) -> int:
        """Append EGG samples to egg.wav (opened at the first call); returns their WAV position."""
        if self.wav is None:
            self.wav = WavAppender(self.folder / WAV_NAME, fs)
        elif fs != self.wav.fs:
            raise ValueError(f"the board switched from {self.wav.fs} Hz to {fs} Hz inside one recording; "
                             f"start a new recording for the new rate")
        return self.wav.append(samples)

    @property
    def wav_samples(self) -> int:
        return self.wav.n if self.wav is not None else 0

    def flush(self) -> None:
        self._jsonl.flush()
        if self.fsync:
            os.fsync(self._jsonl.fileno())

    def close(self) -> None:
        self.flush()
        self._jsonl.close()
        if self.wav is not None:
            self.wav.close()


# --- reading -------------------------------------------------------------------------------


@dataclass
class Recording:
    folder: Path
    events: list[dict[str, Any]]
    fs: int | None                      # the WAV's rate (None without egg.wav)
    egg: np.ndarray                     # int16 samples (empty without egg.wav)
    truncated_line: bool = False        # the last line was cut (the writer was killed mid-line)
    problems: list[str] = field(default_factory=list)   # lines that could not be used, and why
    lines: list[int] = field(default_factory=list)      # the line number (from 1) of each event

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == type_]


def read_recording(folder: str | Path) -> Recording:
    """Read a recording; a last line cut short by a killed writer is reported, not fatal."""
    folder = Path(folder)
    path = folder / JSONL_NAME
    if not path.is_file():
        raise ValueError(f"{folder}: no {JSONL_NAME}; is this a folder written by `eggemo monitor --record`?")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    events, numbers, truncated, problems = [], [], False, []
    for k, line in enumerate(lines):
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            if k == len(lines) - 1:         # no newline after it: the write was cut
                truncated = True
            else:
                problems.append(f"{path.name} line {k + 1} is not JSON (cut or corrupt); skipped")
            continue
        if not isinstance(event, dict):
            problems.append(f"{path.name} line {k + 1} is JSON but not an object ({type(event).__name__}); skipped")
            continue
        events.append(event)
        numbers.append(k + 1)
    if not events or events[0].get("type") != "session" or events[0].get("format") != FORMAT:
        raise ValueError(f"{path}: does not start with an {FORMAT} session line")
    fs, egg = None, np.zeros(0, np.int16)
    wav = folder / WAV_NAME
    if wav.is_file():
        fs, egg = read_wav_int16(wav)
    return Recording(folder, events, fs, egg, truncated, problems, numbers)


def read_wav_int16(path: Path) -> tuple[int, np.ndarray]:
    """(fs, int16 samples) of a WAV this module wrote, trusting the header's data size."""
    with open(path, "rb") as fh:
        head = fh.read(_WAV_HEADER)
        if len(head) < _WAV_HEADER or head[:4] != b"RIFF" or head[8:12] != b"WAVE" or head[36:40] != b"data":
            raise ValueError(f"{path}: not a WAV file written by the monitor (bad header)")
        fs = struct.unpack_from("<I", head, 24)[0]
        n_bytes = struct.unpack_from("<I", head, 40)[0]
        data = fh.read(n_bytes)
    if len(data) < n_bytes:
        raise ValueError(f"{path}: the header promises {n_bytes} bytes of samples, the file holds {len(data)}")
    return int(fs), np.frombuffer(data, "<i2").astype(np.int16)
