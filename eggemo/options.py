"""Options that several subcommands share: one name and one meaning each, everywhere.

Every subcommand that takes one of these adds it through the function here, so its name, its
help's opening words and its default cannot drift apart between commands. `SHARED` is the table
the CLI test checks every subcommand's --help against; `RETIRED` names the old spellings, each
refused with the new one (eggemo.cli.parse).
"""
from __future__ import annotations

import argparse

LABEL_SETS = ("emodb", "cdesd")
NOISE_KINDS = ("white", "babble", "file")

# option -> the words its help opens with, in every subcommand that has it
SHARED: dict[str, str] = {
    "--set": "override one config value",
    "--label-set": "emotion label set",
    "--egg-channel": "1-based channel of the WAV that holds the EGG",
    "--fs": "sample rate, Hz",
    "--noise": "add noise of this kind to the speech channel",
    "--snr": "SNR of the added noise, dB",
    "--noise-file": "noise WAV for --noise file",
    "--noise-seed": "seed of the added noise",
    "--corpus": "corpus folder",
    "--features": "a FeatureSet .npz",
    "--f0-source": "the channel the F0 core runs on",
    "--board": "the board (a folder of firmware/boards/, as make's BOARD=)",
}

# (command, old option) -> what to write instead
RETIRED: dict[tuple[str, str], str] = {
    ("synth", "--set"): "the emotion set is --label-set emodb|cdesd (as in `eggemo features`); --set only ever "
                        "overrides a config value, in `eggemo train` and `eggemo experiment`",
    ("f0", "--channel"): "the EGG's channel is --egg-channel N (1-based), as in `eggemo monitor`",
    ("monitor", "--rate"): "ask the board for a sample rate with --fs HZ, as in `eggemo synth` and `eggemo features`",
}


def add_label_set(p: argparse.ArgumentParser, role: str, default: str | None = None) -> None:
    p.add_argument("--label-set", choices=LABEL_SETS, default=default,
                   help=f"{SHARED['--label-set']}: emodb (EMO-DB's seven) or cdesd (CDESD's: surprise instead of "
                        f"boredom); {role}")


def add_board(p: argparse.ArgumentParser, role: str, boards) -> None:
    """--board NAME, one of `boards` (names of eggemo.boards), default eggemo.boards.DEFAULT_BOARD."""
    from eggemo.boards import DEFAULT_BOARD
    p.add_argument("--board", choices=sorted(boards), default=DEFAULT_BOARD,
                   help=f"{SHARED['--board']}: {role} (default {DEFAULT_BOARD})")


def add_egg_channel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--egg-channel", type=int, default=None, metavar="N",
                   help=f"{SHARED['--egg-channel']} (default: the last; a corpus WAV has the speech in 1, the EGG in 2)")


def add_fs(p: argparse.ArgumentParser, role: str, default: int | None = None, choices=None) -> None:
    p.add_argument("--fs", type=int, default=default, choices=choices, metavar="HZ",
                   help=f"{SHARED['--fs']}: {role}" + (f" (default {default})" if default is not None else ""))


def add_noise(p: argparse.ArgumentParser) -> None:
    """--noise KIND, --snr DB, --noise-file WAV (and --noise-seed): noise is added when --noise or --snr is
    given (kind white, 10 dB unless said); see eggemo.train.noise.noise_from_args."""
    p.add_argument("--noise", choices=NOISE_KINDS, default=None,
                   help=f"{SHARED['--noise']}, EGG untouched: white, babble or file (with --snr alone: white)")
    p.add_argument("--snr", type=float, default=None, metavar="DB",
                   help=f"{SHARED['--snr']} (default 10 when --noise is given)")
    p.add_argument("--noise-file", default=None, metavar="WAV", help=SHARED["--noise-file"])
    p.add_argument("--noise-seed", type=int, default=0, help=f"{SHARED['--noise-seed']} (default 0)")
