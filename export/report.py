"""export_report.json -> export_report.md (a pure function of the report dict)."""
from __future__ import annotations

from typing import Any


def _yes(b: bool) -> str:
    return "yes" if b else "**no**"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _disagreements(v: dict[str, Any]) -> list[str]:
    """Where int8 and float pick different classes, and how close the float model's call was."""
    if "output_step" not in v:    # reports written before the breakdown existed
        return []
    if not v["disagreements"]:
        return [f"int8 and float pick the same class on all {v['utterances']} utterances.", ""]
    return [f"{v['disagreements']} of {v['utterances']} utterances get a different class. The float model's margin "
            f"between its two best classes on those, in int8 output steps ({v['output_step']:.4g}): "
            f"{', '.join(f'{m:g}' for m in v['disagreement_margins_steps'])}. {v['below_one_step']} utterances have a "
            f"float margin below one step, where the int8 output cannot separate the two classes; on the other "
            f"{v['utterances'] - v['below_one_step']} the agreement is {v['argmax_agreement_beyond_one_step']:.4f}.", ""]


def _is_cnn(r: dict[str, Any]) -> bool:
    return r["checkpoint"].get("shape", {}).get("family") == "cnn"


def _title(c: dict[str, Any]) -> str:
    if "description" in c:
        return f"# Export report: {c['student_size']} student ({c['description']})"
    mc = c["model_config"]        # reports written before the description existed
    return (f"# Export report: {c['student_size']} student ({mc.get('layers')}x{mc.get('hidden')} BiLSTM"
            + (f", {mc['stack']} frames per LSTM step" if mc.get("stack", 1) > 1 else "") + ")")


def _state_sentence(r: dict[str, Any]) -> str:
    leak = r["int8"]["state_leak_without_reset_lsb"]
    if _is_cnn(r):
        return (f"The CNN keeps no state between utterances: running them back to back without a reset changes "
                f"the int8 logits by {leak} LSB.")
    return ("Running utterances back to back without resetting "
            f"the LSTM state changes the int8 logits by up to {leak} LSB, so the runtime resets before each one.")


def _types_note(r: dict[str, Any]) -> str:
    if _is_cnn(r):
        return (" (INT32: biases, reduction axes, paddings and the reshape's shape; the convolution weights are "
                "int8 per output channel, BatchNorm folded in).")
    return (" (INT16: LSTM cell states; INT32: biases and constant indices; FLOAT32: empty LSTM "
            "'intermediate' tensors that only carry quantisation parameters).")


def _kernels_note(r: dict[str, Any]) -> str:
    tm = r["tflm"]
    if _is_cnn(r):
        return f"agree within {tm['kernel_max_lsb_diff']} LSB"
    return (f"agree within {tm['kernel_max_lsb_diff']} LSB (an LSTM on its first step; over all "
            f"{r['input']['frames']} steps {tm['lstm_fed_identical_inputs_sequence_max_lsb_diff']} LSB, as each "
            f"kernel's own rounding feeds its state)")


def _shape_line(r: dict[str, Any]) -> list[str]:
    sh = r["checkpoint"].get("shape", {})
    if sh.get("family") != "cnn":
        return []
    return [f"Shape: {sh['layers']} blocks of Conv1d(kernel {sh['kernel']}) -> BatchNorm (folded) -> ReLU, "
            f"{sh['width']} channels, strides {sh['strides']} (frames after each block: "
            f"{sh['frames_after_blocks']}), {sh['pooling']} pooling over time ({sh['pooled_dim']} values) and a "
            f"linear classifier; {sh['parameters_after_batchnorm_folding']:,} parameters after folding.", ""]


def _deployed_section(r: dict[str, Any]) -> list[str]:
    """What the export deploys when it is not the plain int8 model: the 16x8 model, snapped weights."""
    d = r.get("deploy") or {"file": r["int8"]["file"], "activations": "int8", "snapped_weights": False}
    out = ["## Deployed model", "",
           f"`{d['file']}` ({d['activations']} activations, int8 weights"
           + ("; weights put on their int8 grid before converting" if d["snapped_weights"] else "")
           + "): the board's C inference and the host's `--model` folder run it. The accuracy-drop, argmax-agreement "
           "and RAM (C scratch) targets below are its own; the size and TFLite Micro ones are the int8 model's.", ""]
    sn = r.get("snap")
    if sn:
        out += [f"Snapping the weights changed {sn['labels_changed']} of {sn['utterances']} validation labels of the "
                f"float model (unweighted accuracy {sn['checkpoint']['unweighted_accuracy']:.4f} with the "
                f"checkpoint's weights, {sn['snapped']['unweighted_accuracy']:.4f} snapped); the float rows above are "
                f"the snapped model's.", ""]
    w = r.get("int16x8")
    if w:
        vs = w["vs_float"]
        out += [_table(["model", "accuracy", "unweighted accuracy", "argmax agreement with float", "drop (points)"], [
            ["int8 TFLite", f"{r['int8']['accuracy']:.4f}", f"{r['int8']['unweighted_accuracy']:.4f}",
             f"{r['int8']['vs_float']['argmax_agreement']:.4f}", f"{r['int8']['accuracy_drop_points']:.2f}"],
            ["16x8 TFLite", f"{w['accuracy']:.4f}", f"{w['unweighted_accuracy']:.4f}", f"{vs['argmax_agreement']:.4f}",
             f"{w['accuracy_drop_points']:.2f}"]]), ""]
        if "vs_checkpoint" in w:
            out += [f"Against the checkpoint's own (unsnapped) float model the 16x8 labels agree on "
                    f"{w['vs_checkpoint']['argmax_agreement']:.4f} of validation utterances.", ""]
        t = w.get("tflm") or {}
        out += [("TFLite Micro runs it too: " + f"argmax agreement {t['argmax_agreement']:.4f} with ai-edge-litert."
                 if t.get("runs") else f"TFLite Micro does not run it ({t.get('error', 'not tried')}); "
                 + str(t.get("note", ""))), ""]
    return out if (sn or w or d["activations"] != "int8") else []


def _mcu_lines(r: dict[str, Any]) -> list[str]:
    """Whether the deployed model fits the MCU, in the RAM its runtime needs (the C scratch where the
    board runs it as C; TFLite Micro's arena otherwise)."""
    mcu = r["mcu"]
    head = f"{mcu['name']} ({mcu['flash_bytes'] // 1024} KiB flash, {mcu['ram_bytes'] // 1024} KiB RAM)"
    if "runtime" not in mcu:        # reports written before the runtime was named
        return [f"{head}: model fits flash {_yes(mcu['model_fits_flash'])}, arena fits RAM "
                f"{_yes(mcu['arena_fits_ram'])} -- {mcu['verdict']}."]
    lines = [f"{head}, deployed model run by {mcu['runtime']}: model fits flash {_yes(mcu['model_fits_flash'])}, "
             f"{mcu['ram_use']} of {mcu['ram_needed_bytes']:,} B fits RAM {_yes(mcu['fits_ram'])} -- {mcu['verdict']}."]
    if mcu["runtime"] != "TFLite Micro":
        lines += ["", f"The board runs the deployed model as C, so the TFLite Micro arena above "
                      f"({r['tflm']['arena_bytes']:,} B, of the int8 model) is a cross-check, not its RAM budget."]
    return lines


def render_markdown(r: dict[str, Any]) -> str:
    c, i8, fl, tm, mcu = r["checkpoint"], r["int8"], r["float"], r["tflm"], r["mcu"]
    names = r["input"].get("channel_names") or []
    out = [_title(c), "",
           f"Checkpoint `{c['path']}` (sha256 `{c['sha256'][:16]}...`), {c['deployed_parameters']:,} deployed "
           f"parameters, input {r['input']['frames']} frames x {r['input']['channels']} channels"
           + (f" ({', '.join(names)})" if names else "") + f", labels: {', '.join(r['label_names'])}.", "",
           *_shape_line(r),
           f"Calibration: {r['data']['calibration']['utterances_used']} of "
           f"{r['data']['calibration']['utterances_available']} contours from {r['data']['calibration']['source']}. "
           f"Accuracy on: {r['data']['validation']['kind']}, {r['data']['validation']['utterances']} utterances "
           f"({r['data']['validation']['source']}).", "",
           "## Artefacts", "",
           _table(["file", "bytes", "notes"], [
               [r["onnx"]["file"], r["onnx"]["size_bytes"], f"opset {r['onnx']['opset']}"],
               [fl["file"], fl["size_bytes"], "float32 reference"],
               [i8["file"], i8["size_bytes"], f"{i8['size_kib']} KiB, int8 in/out"],
               *([[r["int16x8"]["file"], r["int16x8"]["size_bytes"], "16x8: int16 in/out and activations, int8 weights "
                   "(deployed)"]] if r.get("int16x8") else []),
               *([[f, "", f"model as a {r['c_source']['align_bytes']}-byte aligned C array"]
                  for f in r["c_source"]["files"]] if "c_source" in r else []),
           ]), "",
           "## Parity with torch (float)", "",
           _table(["model", "max abs logit diff", "tolerance"],
                  [[k, f"{v:.2e}", f"{r['parity_vs_torch']['tolerance']:g}"]
                   for k, v in r["parity_vs_torch"].items() if k != "tolerance"]), "",
           "## int8 against float", "",
           _table(["model", "accuracy", "unweighted accuracy"], [
               ["torch", f"{r['torch']['accuracy']:.4f}", f"{r['torch']['unweighted_accuracy']:.4f}"],
               ["float TFLite", f"{fl['accuracy']:.4f}", f"{fl['unweighted_accuracy']:.4f}"],
               ["int8 TFLite", f"{i8['accuracy']:.4f}", f"{i8['unweighted_accuracy']:.4f}"]]), "",
           f"Accuracy drop {i8['accuracy_drop_points']:.2f} points; argmax agreement with float "
           f"{i8['vs_float']['argmax_agreement']:.4f}; max |logit diff| {i8['vs_float']['max_abs_logit_diff']:.4f} "
           f"(mean {i8['vs_float']['mean_abs_logit_diff']:.4f}).", "",
           *_disagreements(i8["vs_float"]),
           _state_sentence(r), "",
           *_deployed_section(r),
           "## Ops and tensor types (int8 model)", "",
           "Execution order: " + ", ".join(f"`{o}`" for o in i8["ops"]) + ".", "",
           f"All ops are in TFLite Micro's op set: {_yes(i8['ops_all_in_tflm'])}. Tensor types: "
           + ", ".join(f"{k} x{v}" for k, v in sorted(i8["tensor_types"].items())) + _types_note(r), "",
           f"Input: {i8['io']['input']['type']} {i8['io']['input']['shape']}, scale {i8['io']['input']['scale']:.6g}, "
           f"zero point {i8['io']['input']['zero_point']}. Output: {i8['io']['output']['type']} "
           f"{i8['io']['output']['shape']}, scale {i8['io']['output']['scale']:.6g}, zero point "
           f"{i8['io']['output']['zero_point']}.", "",
           "## TFLite Micro", "",
           f"Arena needed: **{tm['arena_bytes']} bytes ({tm['arena_kib']} KiB)** ({tm['note']}). "
           f"Against ai-edge-litert on {tm['utterances']} utterances: logits differ by at most {tm['max_lsb_diff']} LSB "
           f"({tm['max_abs_logit_diff']:.4g} in logit units), {100 * tm['bit_exact_share']:.1f}% of logits bit-exact, "
           f"argmax agreement {tm['argmax_agreement']:.4f}. Ops fed bit-identical inputs in both runtimes "
           f"({', '.join(tm['kernels_checked'])}) {_kernels_note(r)}; differences downstream are those roundings "
           f"carried through the network. Largest difference per op output: "
           + ", ".join(tm["per_op_max_lsb_diff"]) + ".", "",
           *_mcu_lines(r), "",
           "## Targets", "",
           _table(["target", "value", "limit", "met"],
                  [[k, v["value"], v["limit"], _yes(v["met"])] for k, v in r["targets"].items()]), "",
           "## Runtimes", "",
           *[f"- {k}: {v}" for k, v in r["runtimes"].items()], "",
           "Timings (s): " + ", ".join(f"{k} {v}" for k, v in r["timings_s"].items()), ""]
    return "\n".join(out)
