"""eggemo: emotion recognition from the electroglottograph, from F0 to live monitor.

Each subcommand lives in its own module and is imported only when used, so
`eggemo monitor` never pays for torch or TensorFlow.

A subcommand module provides `add_arguments(parser)` and `main(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from eggemo.boards import BoardError

# name -> (module, one-line help). Add new subcommands here.
COMMANDS: dict[str, tuple[str, str]] = {
    "f0": ("eggemo.f0_cli", "F0 and voice quality (CQ, jitter, shimmer) of an EGG recording: table, CSV and plot"),
    "synth": ("eggemo.train.synth_cli", "write a synthetic speech+EGG emotional corpus"),
    "features": ("eggemo.train.features_cli", "extract and cache features of a corpus"),
    "train": ("eggemo.train.cli", "train the teacher, the student, or distil"),
    "evaluate": ("eggemo.train.evaluate_cli", "evaluate a checkpoint"),
    "experiment": ("eggemo.train.experiments", "run one of the paper's experiments"),
    "export": ("eggemo.export.cli", "export a student to ONNX, int8 TFLite and a C array"),
    "flash": ("eggemo.flash", "flash firmware to a board through a debug probe"),
    "monitor": ("eggemo.host.cli", "live emotion monitor over serial"),
    "demo": ("eggemo.demo", "the whole system, end to end"),
}


def _load(name: str):
    module, _ = COMMANDS[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise SystemExit(f"eggemo {name}: not available in this version ({module} is missing)")
        raise SystemExit(
            f"eggemo {name}: needs the Python package '{exc.name}', which is not installed.\n"
            f"Install the extras for it, e.g. pip install 'eggemo[train,export,host]'."
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="eggemo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help() if not argv or argv[0] in ("-h", "--help") else parser.parse_args(argv[:1])
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    try:
        mod = _load(name)
        cmd = argparse.ArgumentParser(prog=f"eggemo {name}", description=COMMANDS[name][1])
        mod.add_arguments(cmd)
        args = parse(cmd, name, argv[1:])
        return int(mod.main(args) or 0)
    except KeyboardInterrupt:                 # Ctrl-C: a line, not a traceback; 130 as a shell reports it
        print(f"eggemo {name}: interrupted", file=sys.stderr)
        return 130
    except BoardError as exc:                 # a firmware/boards/ folder that cannot be read
        print(f"eggemo {name}: {exc}", file=sys.stderr)
        return 2


# An option that a user looks for in one command but that lives in another: (command, option) -> hint.
ELSEWHERE: dict[tuple[str, str], str] = {
    ("train", "--skip-bad"): "--skip-bad belongs to `eggemo features`: extract with `eggemo features --corpus DIR "
                             "--skip-bad --out FILE.npz`, then train with `eggemo train ... --features FILE.npz`",
    ("experiment", "--skip-bad"): "--skip-bad belongs to `eggemo features`: extract with `eggemo features --corpus "
                                  "DIR --skip-bad --out FILE.npz`, then run the experiment with --features FILE.npz",
}


def parse(cmd: argparse.ArgumentParser, name: str, argv: list[str]) -> argparse.Namespace:
    """cmd.parse_args, with a hint for an unknown option that another command has."""
    from eggemo.options import RETIRED

    args, unknown = cmd.parse_known_args(argv)
    if unknown:
        known = {**ELSEWHERE, **RETIRED}
        hints = [known[(name, u.split("=")[0])] for u in unknown if (name, u.split("=")[0]) in known]
        cmd.error(f"unrecognized arguments: {' '.join(unknown)}" + "".join(f"; {h}" for h in hints))
    return args


if __name__ == "__main__":
    raise SystemExit(main())
