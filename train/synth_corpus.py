"""A synthetic speech + EGG emotional corpus made by a source-filter model.

One glottal source per utterance (`eggemo.eggsynth.synth_egg`) gives both
channels: its contact waveform is the EGG (channel 2) and its glottal flow,
differentiated, tilted and mixed with aspiration noise, drives a cascade of
five formant resonators to make the speech (channel 1). Unvoiced consonants
and pauses interrupt the voicing in both channels; frication noise appears in
the speech only.

Where the emotion shows
-----------------------
Each emotion is a set of offsets from neutral (`EMOTIONS`), chosen from the
direction of the classic findings on vocal emotion (Murray & Arnott 1993,
Banse & Scherer 1996, Scherer 2003): hot anger and happiness high and wide,
fear high, narrow and fast with unstable voicing, sadness and boredom low,
narrow and slow, surprise with a wide range and a final rise, disgust low and
slow. Two groups of cues:

- prosody, visible in the EGG and hence in the student's F0 input: F0 level
  (`f0_st`), accent range (`range`), declination (`decl_st`), the final
  movement (`final_st`), speaking rate (`rate`) and pausing (`pause`), i.e.
  the voicing pattern, and jitter/shimmer;
- vocal tract and voice quality, visible only in the speech: vocal effort
  (`level_db`), first and second formant shifts (`f1`, `f2`), spectral tilt
  (`tilt_oct`), breathiness (`breath_db`), open quotient (`oq`, which shapes
  the EGG pulse but not its F0) and formant bandwidth (`bw`).

The prosodic profiles deliberately pair up: sadness ~ boredom, anger ~
happiness, neutral ~ disgust are close in F0 and timing and differ mainly in
voice quality and vocal tract (breathy vs. lax, pressed vs. smiling, lowered
formants), so F0 alone cannot separate them while the speech can. Fear and
surprise stand apart in F0.

Variation. Speakers differ in sex, base F0, accent range, rate, vocal-tract
length, voice quality and recording level; each speaker expresses emotions
with their own strength (`expressiveness`) and idiosyncratic deviations
(`SPREAD` column 1); every utterance varies again (`SPREAD` column 2). The
classes therefore overlap and a speaker-independent test is much harder than
a speaker-dependent one. docs/data.md reports what simple classifiers reach.

Everything is a pure function of (CorpusConfig, utterance index): utterance k
uses the random stream default_rng([seed, k]).
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from .data import CDESD_LABELS, EMODB_LABELS, EMODB_LETTERS

CORPUS_VERSION = 1
LABELS = {"emodb": EMODB_LABELS, "cdesd": CDESD_LABELS}
_LETTER = {v: k for k, v in EMODB_LETTERS.items()}
TEXT_CODES = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")  # EMO-DB's text codes

# Emotion offsets from neutral. Additive: f0_st, decl_st, final_st (semitones), level_db, breath_db (dB),
# tilt_oct (octaves of the source corner), oq. Multiplicative: range, rate, pause, jitter, shimmer, f1, f2, bw.
PARAMS = ("f0_st", "range", "decl_st", "final_st", "rate", "pause", "jitter", "shimmer",
          "level_db", "f1", "f2", "tilt_oct", "breath_db", "oq", "bw")
MULTIPLICATIVE = frozenset({"range", "rate", "pause", "jitter", "shimmer", "f1", "f2", "bw"})
NEUTRAL = {p: (1.0 if p in MULTIPLICATIVE else 0.0) for p in PARAMS}
EMOTIONS: dict[str, dict[str, float]] = {
    "neutral": dict(NEUTRAL),
    "anger": dict(NEUTRAL, f0_st=3.5, range=1.35, decl_st=-0.5, final_st=-1.0, rate=1.08, pause=0.7,
                  jitter=1.2, shimmer=1.2, level_db=6.0, f1=1.10, f2=1.02, tilt_oct=0.9, breath_db=-5.0,
                  oq=-0.08, bw=0.9),
    "happiness": dict(NEUTRAL, f0_st=3.0, range=1.5, decl_st=1.0, final_st=1.0, rate=1.06, pause=0.9,
                      level_db=3.0, f1=1.05, f2=1.08, tilt_oct=0.4),
    "fear": dict(NEUTRAL, f0_st=4.5, range=0.8, decl_st=0.5, final_st=0.5, rate=1.18, pause=1.2, jitter=1.8,
                 shimmer=1.4, f1=1.02, f2=1.04, tilt_oct=0.2, breath_db=4.0, oq=0.03, bw=1.1),
    "sadness": dict(NEUTRAL, f0_st=-1.5, range=0.6, decl_st=-0.5, final_st=-0.5, rate=0.80, pause=1.5,
                    jitter=1.3, shimmer=1.3, level_db=-5.0, f1=0.93, f2=0.96, tilt_oct=-0.9, breath_db=7.0,
                    oq=0.10, bw=1.2),
    "boredom": dict(NEUTRAL, f0_st=-2.0, range=0.55, decl_st=-0.3, final_st=-0.5, rate=0.86, pause=1.3,
                    shimmer=1.1, level_db=-3.0, f1=0.97, f2=0.91, tilt_oct=-0.2, breath_db=-1.0, oq=-0.03,
                    bw=1.15),
    "disgust": dict(NEUTRAL, f0_st=-1.0, range=0.95, decl_st=-0.5, final_st=-1.0, rate=0.86, pause=1.2,
                    jitter=1.1, shimmer=1.2, f1=0.90, f2=0.92, tilt_oct=0.5, breath_db=2.0, oq=-0.05),
    "surprise": dict(NEUTRAL, f0_st=4.5, range=1.6, decl_st=1.5, final_st=5.0, level_db=3.0, f1=1.08,
                     f2=1.04, tilt_oct=0.3, breath_db=2.0),
}
# Standard deviations of each parameter (log units for the multiplicative ones):
# (per speaker and emotion: the speaker's own way of showing it, per utterance).
SPREAD: dict[str, tuple[float, float]] = {
    "f0_st": (1.0, 1.0), "range": (0.15, 0.2), "decl_st": (0.8, 1.0), "final_st": (1.0, 1.2),
    "rate": (0.06, 0.07), "pause": (0.2, 0.3), "jitter": (0.2, 0.25), "shimmer": (0.2, 0.25),
    "level_db": (1.5, 2.0), "f1": (0.02, 0.025), "f2": (0.02, 0.025), "tilt_oct": (0.2, 0.3),
    "breath_db": (2.0, 2.5), "oq": (0.03, 0.03), "bw": (0.1, 0.1),
}
# Male formants F1..F3 (Hz) of five vowels; F4, F5 fixed. Scaled by vocal-tract length and emotion.
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0), "e": (530.0, 1840.0, 2480.0), "i": (280.0, 2250.0, 2890.0),
    "o": (570.0, 840.0, 2410.0), "u": (310.0, 870.0, 2250.0),
}
F45 = (3500.0, 4500.0)
BANDWIDTHS = (60.0, 90.0, 120.0, 180.0, 250.0)
# Onset consonants: unvoiced fricatives (band of noise), plosives (closure + burst), voiced sonorants.
ONSETS = ("s", "sh", "f", "h", "p", "t", "k", "m", "n", "l", "")
FRICATIVE_BANDS = {"s": (3800.0, 7500.0), "sh": (2000.0, 4500.0), "f": (1000.0, 7500.0), "h": (400.0, 3500.0),
                   "p": (500.0, 4000.0), "t": (2500.0, 7000.0), "k": (1200.0, 3500.0)}


@dataclass(frozen=True)
class CorpusConfig:
    n_utterances: int = 700
    n_speakers: int = 10
    seed: int = 0
    label_set: str = "emodb"         # emodb | cdesd
    fs: int = 16000
    n_texts: int = 10
    spread: float = 1.0              # scales every SPREAD entry (0 = no per-speaker/utterance variation)
    speech_snr_db: tuple[float, float] = (35.0, 45.0)   # background noise in the speech, per speaker
    egg_snr_db: tuple[float, float] = (30.0, 40.0)      # sensor noise in the EGG, per speaker

    def __post_init__(self) -> None:
        if self.label_set not in LABELS:
            raise ValueError(f"label_set must be one of {sorted(LABELS)}, got {self.label_set!r}")
        if self.n_utterances < 1 or self.n_speakers < 1:
            raise ValueError("need at least one utterance and one speaker")
        if self.n_speakers > 99:
            raise ValueError("at most 99 speakers (two-digit speaker codes)")
        if not 1 <= self.n_texts <= len(TEXT_CODES):
            raise ValueError(f"n_texts must be 1..{len(TEXT_CODES)}")
        if self.fs < 16000:
            raise ValueError("fs must be >= 16000 Hz (fricatives and F5 reach 7.5 kHz)")

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS[self.label_set]


@dataclass(frozen=True)
class Speaker:
    code: str
    sex: str                  # "m" | "f"
    f0_hz: float              # habitual F0
    accent_st: float          # typical pitch-accent height, semitones
    rate: float               # syllables per second, neutral
    vtl: float                # formant scale (1.0 = the table's male tract; shorter tract -> higher)
    oq: float                 # open quotient
    sq: float                 # speed quotient of the EGG pulse
    tilt_oct: float           # source corner offset, octaves
    breath_db: float          # aspiration level re the voiced source, dB
    jitter: float
    shimmer: float
    gain_db: float            # recording level
    egg_amp: float
    egg_drift: float
    speech_snr_db: float
    egg_snr_db: float
    expressiveness: float     # how strongly this speaker shows emotion (scales the offsets)
    style: dict = field(default_factory=dict)   # emotion -> its own deviations per parameter


@dataclass(frozen=True)
class Syllable:
    onset: str
    vowel: str
    accent: bool


@dataclass(frozen=True)
class Text:
    code: str
    words: tuple[tuple[Syllable, ...], ...]


def make_texts(config: CorpusConfig) -> list[Text]:
    """n_texts sentences of 3-5 words, 6-10 syllables, one or two accents per word group."""
    rng = np.random.default_rng([config.seed, 999_999])
    texts = []
    for code in TEXT_CODES[: config.n_texts]:
        n_syl = int(rng.integers(6, 11))
        n_words = int(rng.integers(3, 6))
        cuts = np.sort(rng.choice(np.arange(1, n_syl), size=n_words - 1, replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [n_syl]]))
        words = []
        for size in sizes:
            stress = int(rng.integers(0, size))
            words.append(tuple(Syllable(str(rng.choice(ONSETS)), str(rng.choice(list(VOWELS))),
                                        bool(j == stress and rng.random() < 0.6)) for j in range(size)))
        texts.append(Text(code, tuple(words)))
    return texts


def make_speakers(config: CorpusConfig) -> list[Speaker]:
    """Half male, half female (alternating), each with a random voice and emotional style."""
    speakers = []
    for s in range(config.n_speakers):
        rng = np.random.default_rng([config.seed, 100_000 + s])
        female = s % 2 == 1
        style = {}
        for emo in config.labels:
            style[emo] = {p: float(rng.normal(0.0, SPREAD[p][0] * config.spread)) for p in PARAMS}
        speakers.append(Speaker(
            code=f"{s + 1:02d}", sex="f" if female else "m",
            f0_hz=float((205.0 if female else 115.0) * np.exp(rng.normal(0, 0.10))),
            accent_st=float(rng.uniform(2.5, 4.5)),
            rate=float(rng.uniform(4.3, 5.5)),
            vtl=float((1.17 if female else 1.0) * np.exp(rng.normal(0, 0.04))),
            oq=float(rng.uniform(0.55, 0.65) if female else rng.uniform(0.45, 0.55)),
            sq=float(rng.uniform(2.0, 3.5)),
            tilt_oct=float(rng.normal(0, 0.3)),
            breath_db=float(rng.uniform(-30, -22) + (3.0 if female else 0.0)),
            jitter=float(rng.uniform(0.004, 0.012)),
            shimmer=float(rng.uniform(0.03, 0.06)),
            gain_db=float(rng.uniform(-3, 3)),
            egg_amp=float(rng.uniform(0.25, 0.55)),
            egg_drift=float(rng.uniform(0.1, 0.8)),
            speech_snr_db=float(rng.uniform(*config.speech_snr_db)),
            egg_snr_db=float(rng.uniform(*config.egg_snr_db)),
            expressiveness=float(rng.uniform(0.6, 1.3)),
            style=style,
        ))
    return speakers


def utterance_style(speaker: Speaker, emotion: str, rng: np.random.Generator, spread: float = 1.0) -> dict:
    """The emotion's parameters as this speaker says it this time."""
    out = {}
    for p in PARAMS:
        target, own = EMOTIONS[emotion][p], speaker.style.get(emotion, {}).get(p, 0.0)
        jitter = rng.normal(0.0, SPREAD[p][1] * spread)
        if p in MULTIPLICATIVE:
            out[p] = float(np.exp(speaker.expressiveness * np.log(target) + own + jitter))
        else:
            out[p] = float(speaker.expressiveness * target + own + jitter)
    return out


# ---------------------------------------------------------------- rendering ---

@lru_cache(maxsize=64)
def _resonator_sos(freqs: tuple[float, ...], bws: tuple[float, ...], fs: int) -> np.ndarray:
    """Cascade of two-pole resonators with unit gain at DC (so formant levels come out right)."""
    rows = []
    for f, b in zip(freqs, bws):
        f = min(f, 0.45 * fs)
        r = np.exp(-np.pi * b / fs)
        a1, a2 = -2.0 * r * np.cos(2 * np.pi * f / fs), r * r
        rows.append([1.0 + a1 + a2, 0.0, 0.0, 1.0, a1, a2])
    return np.asarray(rows)


@lru_cache(maxsize=16)
def _band_sos(lo: float, hi: float, fs: int) -> np.ndarray:
    return butter(2, [lo, min(hi, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")


def _ramp_mask(n: int, segments: list[tuple[int, int]], ramp: int) -> np.ndarray:
    """1 inside the segments, 0 outside, with raised-cosine ramps of `ramp` samples inside each edge."""
    m = np.zeros(n)
    for a, b in segments:
        a, b = max(a, 0), min(b, n)
        if b <= a:
            continue
        m[a:b] = 1.0
        r = min(ramp, (b - a) // 2)
        if r > 0:
            w = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
            m[a:a + r] *= w
            m[b - r:b] *= w[::-1]
    return m


def render(speaker: Speaker, text: Text, emotion: str, style: dict, fs: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speech, egg, true F0 per 10 ms frame) of one utterance."""
    from eggemo.eggsynth import synth_egg

    rate = speaker.rate * style["rate"]
    pause = style["pause"]
    # --- timeline: (start, end) samples of vowels, unvoiced consonants and voiced onsets
    t = rng.uniform(0.1, 0.25)
    nuclei: list[tuple[float, float, Syllable]] = []
    consonants: list[tuple[float, float, str]] = []
    n_syl = sum(len(w) for w in text.words)
    k = 0
    for wi, word in enumerate(text.words):
        for syl in word:
            k += 1
            d_syl = rng.uniform(0.85, 1.15) / rate * (1.25 if syl.accent else 1.0) * (1.4 if k == n_syl else 1.0)
            onset = syl.onset
            d_cons = 0.35 * d_syl if onset else 0.0
            if onset in ("p", "t", "k"):
                consonants.append((t, t + d_cons, onset))
            elif onset in FRICATIVE_BANDS:
                consonants.append((t, t + d_cons, onset))
            # sonorant onsets (m, n, l) stay voiced: the vowel just starts earlier, a little quieter
            voiced_start = t + (d_cons if onset in FRICATIVE_BANDS else 0.0)
            nuclei.append((voiced_start, t + d_cons + 0.65 * d_syl, syl))
            t += d_cons + 0.65 * d_syl
        if wi < len(text.words) - 1 and rng.random() < min(0.9, 0.25 * pause):
            t += rng.uniform(0.08, 0.25) * pause
    t += rng.uniform(0.1, 0.25)
    n = int(t * fs)
    ts = np.arange(n) / fs
    # --- F0 contour (semitones re the speaker's habitual F0), defined everywhere
    dur_speech = nuclei[-1][1] - nuclei[0][0]
    st = np.full(n, style["f0_st"])
    st += (-2.5 + style["decl_st"]) * np.clip((ts - nuclei[0][0]) / dur_speech, 0, 1)
    accent_h = speaker.accent_st * style["range"]
    for a, b, syl in nuclei:
        h = accent_h * rng.uniform(0.6, 1.3) if syl.accent else accent_h * rng.uniform(0.0, 0.25)
        c, w = 0.5 * (a + b), 0.6 * (b - a) + 0.05
        st += h * np.exp(-0.5 * ((ts - c) / (0.5 * w)) ** 2)
    a, b, _ = nuclei[-1]
    st += (-1.5 + style["final_st"]) * np.clip((ts - a) / (b - a), 0, 1)
    knots = np.arange(0, t + 0.05, 0.05)
    st += np.interp(ts, knots, rng.normal(0, 0.25 * style["jitter"] ** 0.5, len(knots)))
    f0_cont = speaker.f0_hz * 2.0 ** (st / 12.0)
    voiced_mask = np.zeros(n, dtype=bool)
    for a, b, _ in nuclei:
        voiced_mask[int(a * fs):int(b * fs)] = True
    f0 = np.where(voiced_mask, np.clip(f0_cont, 60.0, 480.0), 0.0)
    # --- glottal source: EGG and flow of the same cycles
    src = synth_egg(f0, fs, oq=float(np.clip(speaker.oq + style["oq"], 0.3, 0.85)), sq=speaker.sq,
                    jitter=speaker.jitter * style["jitter"], shimmer=speaker.shimmer * style["shimmer"],
                    amplitude=speaker.egg_amp * rng.uniform(0.9, 1.1), drift=speaker.egg_drift,
                    noise_snr_db=speaker.egg_snr_db, seed=int(rng.integers(0, 2**31 - 1)))
    dflow = np.diff(src.flow, prepend=0.0) * (fs / 1000.0)
    fc = 1500.0 * 2.0 ** (speaker.tilt_oct + style["tilt_oct"])
    pole = np.exp(-2 * np.pi * min(fc, 0.4 * fs) / fs)
    source = lfilter([1.0 - pole], [1.0, -pole], dflow)
    src_rms = np.sqrt(np.mean(source[voiced_mask] ** 2)) if voiced_mask.any() else 1.0
    breath = rng.standard_normal(n) * (0.4 + src.flow / max(src.flow.max(), 1e-9))
    breath = sosfilt(_band_sos(500.0, 7000.0, fs), breath)
    breath *= src_rms * 10 ** ((speaker.breath_db + style["breath_db"]) / 20) / max(np.std(breath), 1e-12)
    excitation = (source + breath) * _ramp_mask(n, [(int(a * fs), int(b * fs)) for a, b, _ in nuclei],
                                                int(0.015 * fs))
    # --- vocal tract: each vowel's resonator cascade, cross-faded between syllables
    scale = speaker.vtl
    bws = tuple(b * style["bw"] for b in BANDWIDTHS)
    used = sorted({syl.vowel for _, _, syl in nuclei})
    weights = {v: np.zeros(n) for v in used}
    centres = np.array([0.5 * (a + b) for a, b, _ in nuclei])
    if len(centres) > 1:
        hi = np.clip(np.searchsorted(centres, ts), 1, len(centres) - 1)
        lo = hi - 1
        frac = np.clip((ts - centres[lo]) / (centres[hi] - centres[lo]), 0, 1)
        frac = 0.5 - 0.5 * np.cos(np.pi * frac)
        for j, (_, _, syl) in enumerate(nuclei):
            weights[syl.vowel] += np.where(lo == j, 1 - frac, 0.0) + np.where(hi == j, frac, 0.0)
    else:
        weights[used[0]][:] = 1.0
    speech = np.zeros(n)
    for v in used:
        f1, f2, f3 = VOWELS[v]
        freqs = (f1 * scale * style["f1"], f2 * scale * style["f2"], f3 * scale * style["f2"] ** 0.5,
                 F45[0] * scale, F45[1] * scale)
        speech += weights[v] * sosfilt(_resonator_sos(tuple(round(f, 1) for f in freqs), bws, fs), excitation)
    # sonorant onsets a little quieter, accented syllables a little louder
    env = np.ones(n)
    for a, b, syl in nuclei:
        i0, i1 = int(a * fs), int(b * fs)
        if syl.onset in ("m", "n", "l"):
            env[i0:i0 + int(0.3 * (i1 - i0))] *= 0.5
        if syl.accent:
            env[i0:i1] *= 1.4
    speech *= np.convolve(env, np.ones(80) / 80, mode="same")
    voiced_rms = np.sqrt(np.mean(speech[voiced_mask] ** 2)) if voiced_mask.any() else 1.0
    # --- unvoiced consonants: band noise (fricatives) or closure + burst (plosives)
    noise = rng.standard_normal(n)
    for a, b, c in consonants:
        i0, i1 = int(a * fs), int(b * fs)
        if i1 <= i0:
            continue
        seg = sosfilt(_band_sos(*FRICATIVE_BANDS[c], fs), noise[i0:i1])
        if c in ("p", "t", "k"):  # silence, then a 15 ms burst at the release
            burst = int(0.015 * fs)
            seg[: max(0, len(seg) - burst)] = 0.0
            level = 0.5
        else:
            level = {"s": 0.35, "sh": 0.3, "f": 0.12, "h": 0.1}[c]
        seg *= _ramp_mask(len(seg), [(0, len(seg))], int(0.01 * fs))
        speech[i0:i1] += level * voiced_rms * seg / max(np.std(seg[seg != 0]) if np.any(seg) else 1.0, 1e-12)
    # --- recording: vocal effort and level, then background noise
    target = 10 ** ((-30.0 + speaker.gain_db + style["level_db"]) / 20)
    speech *= target / max(voiced_rms, 1e-12)
    bg = sosfilt(_band_sos(60.0, 7500.0, fs), rng.standard_normal(n))
    speech += bg * np.sqrt(np.mean(speech ** 2) / 10 ** (speaker.speech_snr_db / 10)) / max(np.std(bg), 1e-12)
    peak = np.max(np.abs(speech))
    if peak > 0.98:  # keep it in range; rare, changes the level of this one utterance only
        speech *= 0.98 / peak
    egg = np.clip(src.egg, -0.99, 0.99)
    return speech.astype(np.float32), egg.astype(np.float32), src.f0_frames.astype(np.float32)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    speaker: Speaker
    emotion: str
    text: Text
    version: str


def plan(config: CorpusConfig) -> list[Utterance]:
    """Which speaker says which text in which emotion: balanced over speakers and emotions."""
    speakers, texts, labels = make_speakers(config), make_texts(config), config.labels
    seen: dict[tuple, int] = {}
    out = []
    for k in range(config.n_utterances):
        spk = speakers[k % len(speakers)]
        emo = labels[(k // len(speakers)) % len(labels)]
        rep = seen.get((spk.code, emo), 0)
        seen[(spk.code, emo)] = rep + 1
        text = texts[(rep + int(spk.code)) % len(texts)]
        version_n = seen.get((spk.code, emo, text.code), 0)
        seen[(spk.code, emo, text.code)] = version_n + 1
        version = "abcdefghijklmnopqrstuvwxyz"[version_n % 26] + ("" if version_n < 26 else str(version_n // 26))
        if config.label_set == "emodb":
            utt_id = f"{spk.code}{text.code}{_LETTER[emo]}{version}"
        else:
            utt_id = f"{spk.code}_{text.code}_{emo}_{version}"
        out.append(Utterance(utt_id, spk, emo, text, version))
    return out


def synth_utterance(config: CorpusConfig, k: int, utt: Utterance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([config.seed, k])
    style = utterance_style(utt.speaker, utt.emotion, rng, config.spread)
    return render(utt.speaker, utt.text, utt.emotion, style, config.fs, rng)


def write_corpus(out_dir: str | Path, config: CorpusConfig = CorpusConfig(), *, progress: bool = False) -> Path:
    """Write the corpus: wav/<utt_id>.wav (stereo int16: speech, EGG), manifest.csv, speakers.csv,
    f0_true.npz (true F0 per 10 ms frame, frame i at 20 ms + i * 10 ms) and corpus.json. Returns the manifest path."""
    from .audio import write_wav

    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    # first, so that even a corpus cut short says who wrote it (`eggemo synth --replace` reads it)
    (out / "corpus.json").write_text(json.dumps({"version": CORPUS_VERSION, "config": asdict(config)}, indent=2))
    utts = plan(config)
    rows, truth = [], {}
    iterator = enumerate(utts)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(utts), desc="synth", unit="utt")
    for k, utt in iterator:
        speech, egg, f0_true = synth_utterance(config, k, utt)
        rel = f"wav/{utt.utt_id}.wav"
        write_wav(out / rel, np.stack([speech, egg], axis=1), config.fs, bits=16)
        truth[utt.utt_id] = f0_true
        rows.append({"utt_id": utt.utt_id, "speech_path": rel, "egg_path": "", "speech_channel": 1,
                     "egg_channel": 2, "label": utt.emotion, "speaker": utt.speaker.code, "sex": utt.speaker.sex,
                     "text": utt.text.code, "duration_s": f"{len(speech) / config.fs:.3f}"})
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out / "speakers.csv", "w", newline="") as fh:
        spk_rows = [{k: v for k, v in asdict(s).items() if k != "style"} for s in make_speakers(config)]
        w = csv.DictWriter(fh, fieldnames=list(spk_rows[0]))
        w.writeheader()
        w.writerows(spk_rows)
    np.savez_compressed(out / "f0_true.npz", **truth)
    return manifest


# The files write_corpus writes beside its wav/ folder of <utt_id>.wav files.
CORPUS_FILES = ("corpus.json", "manifest.csv", "speakers.csv", "f0_true.npz")


def is_synth_corpus(folder: str | Path) -> bool:
    """Whether folder holds a corpus.json that write_corpus wrote (a corpus cut short included)."""
    try:
        meta = json.loads((Path(folder) / "corpus.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "version" in meta and isinstance(meta.get("config"), dict)


def foreign_entries(folder: str | Path) -> list[Path]:
    """What in folder write_corpus did not write: anything but CORPUS_FILES and wav/*.wav files."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.iterdir()):
        if p.name == "wav" and p.is_dir() and not p.is_symlink():
            out += [q for q in sorted(p.iterdir()) if not (q.suffix == ".wav" and q.is_file() and not q.is_symlink())]
        elif not (p.name in CORPUS_FILES and p.is_file() and not p.is_symlink()):
            out.append(p)
    return out


def remove_corpus(folder: str | Path) -> int:
    """Delete a corpus write_corpus wrote in folder (its files only; refuses a folder that holds
    anything else). Returns the number of files removed."""
    folder = Path(folder)
    if not is_synth_corpus(folder):
        raise ValueError(f"{folder}: no corpus.json of `eggemo synth`; not removing anything")
    foreign = foreign_entries(folder)
    if foreign:
        raise ValueError(f"{folder}: holds files `eggemo synth` did not write ({', '.join(map(str, foreign[:3]))}"
                         f"{', ...' if len(foreign) > 3 else ''}); not removing anything")
    n = 0
    wav = folder / "wav"
    if wav.is_dir():
        for q in wav.iterdir():
            q.unlink()
            n += 1
        wav.rmdir()
    for name in CORPUS_FILES[::-1]:            # corpus.json last: an interrupted removal stays ours
        if (folder / name).is_file():
            (folder / name).unlink()
            n += 1
    return n


# ---------------------------------------------------------------- babble noise ---

@lru_cache(maxsize=4)
def _babble_bank(fs: int, talkers: int, seed: int, seconds: float = 30.0) -> np.ndarray:
    """`talkers` random neutral voices, each speaking random texts for `seconds`, summed."""
    config = CorpusConfig(n_utterances=1, n_speakers=max(talkers, 2), seed=10_000 + seed, fs=fs)
    speakers, texts = make_speakers(config), make_texts(config)
    n = int(seconds * fs)
    total = np.zeros(n)
    for i in range(talkers):
        rng = np.random.default_rng([seed, 7, i])
        voice, pos = np.zeros(n), 0
        while pos < n:
            emo = "neutral"
            style = utterance_style(speakers[i], emo, rng)
            speech, _, _ = render(speakers[i], texts[int(rng.integers(len(texts)))], emo, style, fs, rng)
            speech = speech / max(np.std(speech), 1e-12)
            take = min(len(speech), n - pos)
            voice[pos:pos + take] = speech[:take]
            pos += take
        total += np.roll(voice, int(rng.integers(n)))
    return (total / np.std(total)).astype(np.float32)


def babble(n: int, fs: int, *, talkers: int = 6, seed: int = 0) -> np.ndarray:
    """n samples of babble (unit variance) from a cached bank of synthetic talkers, random offset."""
    bank = _babble_bank(fs, talkers, 0)
    rng = np.random.default_rng(seed)
    if n > len(bank):
        bank = np.tile(bank, n // len(bank) + 1)
    start = int(rng.integers(0, len(bank) - n + 1))
    return bank[start:start + n].copy()
