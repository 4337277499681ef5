"""One spelling per option: every subcommand's --help, read as a user reads it, against one table.

An option that several subcommands take (eggemo.options.SHARED) has one name and opens its help with
the same words in each; the old spellings (eggemo.options.RETIRED) are refused with the new one.
"""
from __future__ import annotations

import re

import pytest

from eggemo.cli import COMMANDS, main as eggemo
from eggemo.options import RETIRED, SHARED

# the options each command must offer under the shared name (a command may have more)
EXPECTED = {
    "f0": {"--egg-channel"},
    "synth": {"--label-set", "--fs"},
    "features": {"--corpus", "--label-set", "--fs", "--noise", "--snr", "--noise-file", "--noise-seed",
                 "--f0-source"},
    "train": {"--corpus", "--features", "--set", "--f0-source"},
    "evaluate": {"--corpus", "--features", "--noise", "--snr", "--noise-file", "--noise-seed"},
    "experiment": {"--corpus", "--features", "--set", "--f0-source", "--noise", "--noise-file"},
    "monitor": {"--egg-channel", "--fs"},
    "export": {"--board"},
    "flash": {"--board"},
}


def help_of(command: str, capsys) -> dict[str, str]:
    """option -> its help text, from `eggemo COMMAND --help` (whitespace folded as the terminal wraps it)."""
    with pytest.raises(SystemExit) as stop:
        eggemo([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    options: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^\s{2}(-[-\w]+(?:[ ,=][^ ]*)*?(?:, -[-\w]+[^ ]*)*)(?:\s{2,}(.*))?$", line)
        if m and line.lstrip().startswith("-"):
            current = m.group(1).split()[0].rstrip(",")
            options[current] = m.group(2) or ""
        elif current is not None and line.startswith(" " * 10) and line.strip():
            options[current] += " " + line.strip()
        else:
            current = None if not line.strip() else current
    return {k: " ".join(v.split()) for k, v in options.items()}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_shared_options_have_one_name_and_one_meaning(command, capsys):
    options = help_of(command, capsys)
    assert options, f"eggemo {command} --help listed no option"
    for opt, meaning in SHARED.items():
        if opt in options:
            assert options[opt].startswith(meaning), (
                f"eggemo {command} {opt}: help {options[opt]!r} does not open with the shared meaning {meaning!r}")
    missing = EXPECTED.get(command, set()) - set(options)
    assert not missing, f"eggemo {command} lacks {sorted(missing)}"
    for (cmd, old), _ in RETIRED.items():
        if cmd == command:
            assert old not in options, f"eggemo {command} still offers the retired {old}"


def test_set_only_ever_overrides_the_config(capsys):
    for command in COMMANDS:
        options = help_of(command, capsys)
        if "--set" in options:
            assert options["--set"].startswith(SHARED["--set"]), command


@pytest.mark.parametrize("command, argv, new", [
    ("synth", ["--out", "x", "--set", "cdesd"], "--label-set"),
    ("f0", ["x.wav", "--channel", "2"], "--egg-channel"),
    ("monitor", ["--port", "loop://", "--rate", "8000"], "--fs"),
])
def test_retired_spellings_are_refused_with_the_new_one(command, argv, new, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        eggemo([command, *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert new in err and "unrecognized arguments" in err
    assert not (tmp_path / "x").exists()


def test_train_size_says_it_switches_the_architecture(capsys):
    assert "replacing the config's student architecture" in help_of("train", capsys)["--size"]
