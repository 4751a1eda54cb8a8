"""Experiment: an int8 copy of the face model, for the speed work of issue 15 (not shipped).

Static quantisation with ONNX Runtime: the model is brought to opset 13 (per-channel weights need
it), then Conv weights become int8 per channel and activations uint8, calibrated on frames of the
given clips. The four output heads and the heatmap's sigmoid stay in float: quantising them
flattens the heatmap and the model finds no face at all.

    python tools/quantize_centerface.py ../shared/media/*.mp4 -o /tmp/centerface-int8.onnx

Session 5 measured, with calibration frames from ../shared/media: 47 ms instead of 63 ms at
1280x704 on 2 threads (Xeon), the same faces >= 16 px covered on faces_crowd_orig, faces_crowd_small
and faces_portraits, 6.27% of other pixels painted on faces_crowd_orig against 6.00%. Needs the
``onnx`` package (a build-time tool, not a runtime dependency). To try the result, load it in
place of the packaged model (its checksum differs: ``redact.detectors.centerface.load_model_bytes``).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from redact.detectors.centerface import load_model_bytes

INPUT = "input.1"


def calibration_frames(clips: list[Path], every: int, most: int) -> list[np.ndarray]:
    """Every ``every``-th frame of each clip as the network's input (RGB, long side 640, x32)."""
    frames: list[np.ndarray] = []
    for clip in clips:
        with av.open(str(clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    frames.append(network_input(frame.to_ndarray(format="rgb24")))
                if len(frames) >= most:
                    return frames
    return frames


def network_input(rgb: np.ndarray, side: int = 640) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    image = cv2.resize(rgb, (max(32, round(w * scale) // 32 * 32), max(32, round(h * scale) // 32 * 32)))
    return image.transpose(2, 0, 1)[None].astype(np.float32)


class Frames(CalibrationDataReader):
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames: Iterator[np.ndarray] = iter(frames)

    def get_next(self) -> dict[str, np.ndarray] | None:
        frame = next(self.frames, None)
        return None if frame is None else {INPUT: frame}


def heads(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that make the outputs (and the convolution before the heatmap's sigmoid)."""
    made_by = {node.output[0]: node for node in model.graph.node}
    names = []
    for output in model.graph.output:
        node = made_by[output.name]
        names.append(node.name)
        if node.op_type == "Sigmoid":
            names.append(made_by[node.input[0]].name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="+", help="videos to take calibration frames from")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--every", type=int, default=10, help="take every N-th frame")
    parser.add_argument("--frames", type=int, default=64, help="calibration frames at most")
    args = parser.parse_args()
    model = version_converter.convert_version(onnx.load_from_string(load_model_bytes()), 13)
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"n{i}_{node.op_type}"  # quantize_static excludes nodes by name
    with tempfile.TemporaryDirectory() as work:
        named, ready = Path(work) / "named.onnx", Path(work) / "ready.onnx"
        onnx.save(model, named)
        quant_pre_process(str(named), str(ready), skip_symbolic_shape=True)
        frames = calibration_frames(args.clips, args.every, args.frames)
        quantize_static(
            str(ready),
            str(args.output),
            Frames(frames),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=heads(model),
        )
    print(f"wrote {args.output} from {len(frames)} calibration frames")


if __name__ == "__main__":
    main()
