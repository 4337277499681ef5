"""WAV reading of every PCM width and float, channels, resampling, and clear errors on bad files."""
from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eggemo.train.audio import (AudioError, check_signal, load_channel, read_wav, resample, select_channel,
                                wav_info, write_wav)

REAL = Path(__file__).resolve().parents[1] / "data" / "egg_real"


@pytest.mark.parametrize("bits, tol", [(16, 1 / 32768), (24, 1 / 2**23), (32, 1 / 2**31), (-32, 1e-7)])
def test_round_trip_every_width(tmp_path, bits, tol):
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.9, 0.9, size=(1000, 2))
    x[:3, 0] = [-1.0, 0.0, 0.5]
    write_wav(tmp_path / "a.wav", x, 16000, bits=bits)
    y, fs = read_wav(tmp_path / "a.wav")
    assert fs == 16000 and y.shape == (1000, 2) and y.dtype == np.float32
    assert np.max(np.abs(y - x)) <= tol + 1e-7
    info = wav_info(tmp_path / "a.wav")
    assert (info.channels, info.frames, info.fs) == (2, 1000, 16000)


def test_8_bit_written_by_the_standard_library(tmp_path):
    raw = np.array([0, 64, 128, 192, 255], dtype=np.uint8)
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(raw.tobytes())
    y, fs = read_wav(tmp_path / "u8.wav")
    assert fs == 8000
    np.testing.assert_allclose(y[:, 0], (raw.astype(float) - 128) / 128)


@pytest.mark.filterwarnings("ignore::scipy.io.wavfile.WavFileWarning")
def test_24_bit_real_recording_matches_scipy():
    """The stereo EGG+speech file is 24-bit PCM at 44.1 kHz; scipy returns it left-justified in int32."""
    path = REAL / "M1_FrameSentence_stereo.wav"
    y, fs = read_wav(path)
    fs2, ref = wavfile.read(path)
    assert fs == fs2 == 44100 and y.shape == ref.shape == (58272, 2)
    np.testing.assert_array_equal(y, (ref.astype(np.float64) / 2**31).astype(np.float32))


@pytest.mark.parametrize("content, words", [
    (b"", "not a WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "no fmt chunk"),
    (b"hello world, this is not audio at all", "not a WAV"),
])
def test_corrupt_files_say_what_is_wrong(tmp_path, content, words):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError, match=words) as err:
        read_wav(p)
    assert str(p) in str(err.value)


def test_missing_data_chunk_and_compressed_format(tmp_path):
    write_wav(tmp_path / "ok.wav", np.zeros(100), 16000)
    data = (tmp_path / "ok.wav").read_bytes()
    (tmp_path / "nodata.wav").write_bytes(data[:36])
    with pytest.raises(AudioError, match="no data chunk"):
        read_wav(tmp_path / "nodata.wav")
    adpcm = bytearray(data)
    struct.pack_into("<H", adpcm, 20, 0x0002)
    (tmp_path / "adpcm.wav").write_bytes(bytes(adpcm))
    with pytest.raises(AudioError, match="not PCM or IEEE float"):
        read_wav(tmp_path / "adpcm.wav")
    with pytest.raises(AudioError, match="cannot read"):
        read_wav(tmp_path / "absent.wav")


def test_truncated_data_is_an_error_that_names_the_file(tmp_path):
    """A cut copy: the header declares 1000 samples, the file holds 600.5 of them."""
    x = np.linspace(-0.5, 0.5, 1000)
    write_wav(tmp_path / "a.wav", x, 16000)
    data = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:44 + 2 * 600 + 1])
    for read in (read_wav, wav_info):
        with pytest.raises(AudioError, match="truncated WAV: its header declares 2000 bytes .* holds 1201") as err:
            read(tmp_path / "cut.wav")
        assert str(tmp_path / "cut.wav") in str(err.value)


def test_unknown_data_size_of_a_streaming_writer_reads_what_is_there(tmp_path):
    x = np.linspace(-0.5, 0.5, 1000)
    write_wav(tmp_path / "a.wav", x, 16000)
    data = bytearray((tmp_path / "a.wav").read_bytes())
    struct.pack_into("<I", data, 40, 0xFFFFFFFF)
    (tmp_path / "stream.wav").write_bytes(bytes(data))
    y, _ = read_wav(tmp_path / "stream.wav")
    np.testing.assert_allclose(y[:, 0], x, atol=1 / 32768)
    assert wav_info(tmp_path / "stream.wav").frames == 1000


def test_channels_are_numbered_from_one():
    x = np.stack([np.zeros(10), np.ones(10)], axis=1)
    assert select_channel(x, 2)[0] == 1.0
    assert select_channel(np.ones(5), 1).shape == (5,)
    with pytest.raises(AudioError, match="channel 3 requested but the file has 2"):
        select_channel(x, 3)


def test_resample_keeps_frequency_and_duration():
    fs_in, fs_out, f = 44100, 16000, 440.0
    t = np.arange(fs_in) / fs_in
    y = resample(np.sin(2 * np.pi * f * t), fs_in, fs_out)
    assert len(y) == fs_out
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * fs_out / len(y) - f) <= 1.0
    assert abs(np.std(y[1000:-1000]) - np.sqrt(0.5)) < 0.01


def test_load_channel_resamples_a_file_at_another_rate(tmp_path):
    t = np.arange(22050) / 22050
    write_wav(tmp_path / "a.wav", np.stack([0.5 * np.sin(2 * np.pi * 200 * t), 0.1 * t], axis=1), 22050)
    y = load_channel(tmp_path / "a.wav", 1, 16000)
    assert len(y) == 16000


@pytest.mark.parametrize("signal, words", [
    (np.full(16000, np.nan), "NaN"),
    (np.zeros(16000), "silent"),
    (np.ones(100), "only 100 samples"),
])
def test_unusable_signals(signal, words):
    with pytest.raises(AudioError, match=words):
        check_signal(signal, name="x", fs=16000)


def test_nan_in_a_float_file(tmp_path):
    x = np.full((2000, 1), 0.1, dtype="<f4")
    x[5] = np.nan
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + x.nbytes, b"WAVE", b"fmt ", 16, 3, 1, 16000,
                         64000, 4, 32, b"data", x.nbytes)
    (tmp_path / "nan.wav").write_bytes(header + x.tobytes())
    with pytest.raises(AudioError, match="NaN"):
        load_channel(tmp_path / "nan.wav", 1, 16000)
