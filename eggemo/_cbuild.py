"""cffi (API mode) build of the C core in ``csrc/`` as ``eggemo._emo``.

The cdef is generated from the public headers, so the binding never carries a
hand-copied declaration: preprocessor lines are dropped except ``#define NAME
<integer>`` constants, which cffi exposes as ``lib.NAME``.
"""
from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
# Public headers, in dependency order (those not written yet are skipped). Each has a matching .c file.
HEADERS = ["emo_common.h", "emo_f0.h", "emo_proto.h", "emo_seg.h", "emo_feat.h", "emo_nn.h"]
# -fno-wrapv undoes the -fwrapv in Python's own CFLAGS, which halves the autocorrelation speed.
CFLAGS = ["-O2", "-fno-wrapv", "-std=c99", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra"]

_DEFINE = re.compile(r"^#define\s+(EMO_[A-Z0-9_]+)\s+\(?(-?(?:0x[0-9A-Fa-f]+|\d+))[uU]?\)?\s*(?:/\*.*\*/)?\s*$")


def cdef_from_header(text: str) -> str:
    """Strip a C header down to what cffi's cdef parser accepts."""
    out: list[str] = []
    skipping_cplusplus = 0
    # comments go first, so that one continued over lines (after a #define, say) leaves no stray text
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef __cplusplus"):
            skipping_cplusplus = 1
            continue
        if skipping_cplusplus:
            if s.startswith("#endif"):
                skipping_cplusplus = 0
            continue
        if s.startswith("#"):
            m = _DEFINE.match(s)
            if m:
                out.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        out.append(line)
    return "\n".join(out)


def headers() -> list[Path]:
    return [CSRC / h for h in HEADERS if (CSRC / h).exists() and (CSRC / h).with_suffix(".c").exists()]


ffibuilder = FFI()
ffibuilder.cdef("\n".join(cdef_from_header(h.read_text()) for h in headers()))
ffibuilder.set_source(
    "eggemo._emo",
    "\n".join(f'#include "{h.name}"' for h in headers()),
    sources=[str((CSRC / h.name).with_suffix(".c").relative_to(ROOT)) for h in headers()],
    include_dirs=[str(CSRC.relative_to(ROOT))],
    extra_compile_args=CFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
