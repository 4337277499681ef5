"""The float constants a C header holds (cffi reads only integer #defines) and their Python twins:
each must be the header's number, read from the header text here. Integer constants and enum codes
are read from the headers through cffi by the core modules themselves (eggemo.core.proto, feat, seg,
f0)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from eggemo.core import feat, proto
from eggemo.core.f0 import params as f0_params
from eggemo.core.f0 import reference as f0_ref

CSRC = Path(__file__).resolve().parents[2] / "csrc"
_DEFINE = re.compile(r"^#define\s+(EMO_\w+)\s+\(?(-?[0-9][0-9.eE+-]*)\)?", re.M)


def header_floats(name: str) -> dict[str, float]:
    return {k: float(v) for k, v in _DEFINE.findall((CSRC / name).read_text())}


TWINS = [
    ("emo_feat.h", "EMO_FEAT_F0_CLIP", lambda: feat.F0_CLIP),
    ("emo_feat.h", "EMO_FEAT_SIGMA_FLOOR", lambda: feat.SIGMA_FLOOR),
    ("emo_feat.h", "EMO_FEAT_ENERGY_SIGMA_FLOOR", lambda: feat.ENERGY_SIGMA_FLOOR),
    ("emo_feat.h", "EMO_FEAT_JITTER_REF", lambda: feat.VQ_REF["jitter"]),
    ("emo_feat.h", "EMO_FEAT_SHIMMER_REF", lambda: feat.VQ_REF["shimmer"]),
    ("emo_proto.h", "EMO_PROTO_NORM_MU_MIN", lambda: proto.NORM_RANGES["mu"][0]),
    ("emo_proto.h", "EMO_PROTO_NORM_MU_MAX", lambda: proto.NORM_RANGES["mu"][1]),
    ("emo_proto.h", "EMO_PROTO_NORM_SIGMA_MIN", lambda: proto.NORM_RANGES["sigma"][0]),
    ("emo_proto.h", "EMO_PROTO_NORM_E_MU_MIN", lambda: proto.NORM_RANGES["e_mu"][0]),
    ("emo_proto.h", "EMO_PROTO_NORM_E_MU_MAX", lambda: proto.NORM_RANGES["e_mu"][1]),
    ("emo_proto.h", "EMO_PROTO_NORM_E_SIGMA_MIN", lambda: proto.NORM_RANGES["e_sigma"][0]),
    ("emo_f0.h", "EMO_F0_CQ_LEVEL", lambda: f0_ref.CQ_LEVEL),
    ("emo_f0.h", "EMO_F0_CLOSURE_REL", lambda: f0_ref.CLOSURE_REL),
    ("emo_f0.h", "EMO_F0_CLOSURE_GAP", lambda: f0_ref.CLOSURE_GAP),
    ("emo_f0.h", "EMO_F0_CYCLE_MIN", lambda: f0_ref.CYCLE_MIN),
    ("emo_f0.h", "EMO_F0_CYCLE_MAX", lambda: f0_ref.CYCLE_MAX),
    ("emo_f0.c", "EMO_ENERGY_EPS", lambda: f0_ref.ENERGY_EPS),
]


@pytest.mark.parametrize("header, name, python", TWINS, ids=[t[1] for t in TWINS])
def test_float_constants_are_the_headers(header, name, python):
    values = header_floats(header)
    assert name in values, f"{name} is no longer a number in csrc/{header}; update this table"
    assert python() == pytest.approx(values[name], rel=1e-15), f"{name} in csrc/{header} is {values[name]}"


def test_integer_constants_come_from_the_headers_not_from_copies():
    from eggemo._emo import lib
    assert (proto.VERSION, proto.MSG_NACK, proto.CMD_SET_NORM, proto.MODE_REPLAY) == \
        (lib.EMO_PROTO_VERSION, lib.EMO_MSG_NACK, lib.EMO_CMD_SET_NORM, lib.EMO_MODE_REPLAY)
    text = (Path(proto.__file__)).read_text()
    assert not re.search(r"^(VERSION|MSG_\w+|CMD_\w+|NACK_[A-Z_]+) = (0x[0-9A-Fa-f]+|\d+)\b", text, re.M), \
        "eggemo/core/proto.py copies a protocol code by hand; read it from the header (_lib.EMO_...)"


def test_f0_limits_come_from_the_header_not_from_copies():
    from eggemo._emo import lib
    assert (f0_params.FS_MIN, f0_params.FS_MAX, f0_params.MAX_SEG, f0_params.MAX_ABS, f0_ref.MAX_CYCLES) == \
        (lib.EMO_FS_MIN, lib.EMO_FS_MAX, lib.EMO_F0_MAX_SEG, lib.EMO_F0_MAX_ABS, lib.EMO_F0_MAX_CYCLES)
    for module in (f0_params, f0_ref):
        text = Path(module.__file__).read_text()
        assert not re.search(r"^(FS_MIN|FS_MAX|AUTO_RATE|MAX_\w+|NCAND) = [0-9]", text, re.M), \
            f"{module.__name__} copies an emo_f0.h limit by hand; read it from the header (_lib.EMO_...)"


def test_f0_default_parameters_are_emo_f0_default_params():
    """F0Params() is what emo_f0_default_params fills in, field by field (the C holds float32)."""
    from eggemo._emo import ffi, lib
    c = ffi.new("emo_f0_params_t *")
    assert lib.emo_f0_default_params(c, 8000) == lib.EMO_OK
    for f in dataclasses.fields(f0_params.F0Params):
        want = getattr(c, f.name)
        got = getattr(f0_params.F0Params(), f.name)
        assert np.float32(got) == np.float32(want), f"F0Params.{f.name} = {got}, emo_f0_default_params: {want}"


def test_channel_crop_and_norm_codes_are_emo_feat_h_enums_whole():
    """eggemo.core.feat's code maps, read by name from emo_feat.h, cover each enum exactly; the channels
    are numbered in STUDENT_INPUTS order (the FeatureSet's), as the header says."""
    from eggemo._emo import lib
    assert list(feat.CHANNEL_CODES) == list(feat.STUDENT_INPUTS)
    assert list(feat.CHANNEL_CODES.values()) == list(range(lib.EMO_FEAT_N_CHANNEL_KINDS)), \
        "emo_feat_channel_t and STUDENT_INPUTS disagree: a channel without a name, or another order"
    assert sorted(feat.CROP_CODES.values()) == list(range(len(feat.CROPS)))
    assert feat.NORM_CODES == {"utterance": lib.EMO_FEAT_NORM_UTTERANCE, "session": lib.EMO_FEAT_NORM_SESSION,
                               "fixed": lib.EMO_FEAT_NORM_FIXED}
    assert proto.NORM_NAMES == {code: name for name, code in feat.NORM_CODES.items()}


def test_the_export_writes_the_boards_input_in_emo_feat_h_codes():
    """export/cmodel.py maps a model's channels, crop and normalisation to codes with eggemo.core.feat's
    maps, by name: never by position, never a second table."""
    pytest.importorskip("ai_edge_litert")
    from eggemo.export import cmodel
    names = list(reversed(feat.STUDENT_INPUTS))
    for crop in feat.CROPS:
        got = cmodel.board_features({"student_inputs": names, "crop": crop, "f0_norm": "utterance"}, len(names))
        assert got["channels"] == [feat.CHANNEL_CODES[n] for n in names] and got["crop"] == crop
    text = Path(cmodel.__file__).read_text()
    assert not re.search(r"STUDENT_INPUTS\.index|^(CROPS|NORMS|\w*CODES) = \{", text, re.M), \
        "export/cmodel.py maps emo_feat codes itself; use eggemo.core.feat.CHANNEL_CODES, CROP_CODES, NORM_CODES"
