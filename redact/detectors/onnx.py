"""ONNX Runtime session options shared by every detector."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from pathlib import Path
from typing import Any

from redact.errors import ModelError


def checked_model_bytes(
    resource: tuple[str, str], sha256: str, what: str, path: str | os.PathLike[str] | None = None
) -> bytes:
    """A model file's bytes (the packaged ``resource`` by default, else ``path``), refused unless its
    checksum is ``sha256``; ``what`` names the model in the error."""
    try:
        if path is None:
            data = importlib.resources.files(resource[0]).joinpath(resource[1]).read_bytes()
        else:
            data = Path(path).read_bytes()
    except (OSError, ModuleNotFoundError) as exc:
        raise ModelError(f"{what} not found ({exc}); reinstall redact") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelError(f"{what} is corrupt or not the expected file (sha256 {digest[:12]}...)")
    return data


def default_threads() -> int:
    """Intra-op threads for a detector: ORT threads never spin (below), so decoding and encoding take
    a core back whenever detection waits; beyond 4 threads these small networks gain little on a CPU."""
    return max(1, min(4, os.cpu_count() or 1))


def session_options(threads: int) -> Any:
    """Options for a detector's session: ``threads`` intra-op threads that never spin, one
    inter-op thread, quiet logs, denormals flushed."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # idle ORT threads would otherwise spin and steal the cores that decode/encode need
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # tiny activations (denormal floats) are ~100x slower on Intel CPUs; flushing them to zero
    # changes no result that matters and made the plate model ~2.7x faster on a Xeon
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return options


#: --device names and the ONNX Runtime provider each one asks for
DEVICES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
CPU = DEVICES["cpu"]


def providers_for(device: str) -> list[str]:
    """The providers to ask for: the device's, then the CPU for operators it lacks. ``auto`` takes
    the first accelerator this onnxruntime has, or the CPU."""
    import onnxruntime as ort

    from redact.errors import ConfigError

    available = ort.get_available_providers()
    name = device.lower()
    if name == "auto":
        found = [p for p in DEVICES.values() if p != CPU and p in available]
        return [found[0], CPU] if found else [CPU]
    if name not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose from auto, {', '.join(DEVICES)}")
    wanted = DEVICES[name]
    if wanted not in available:
        raise ConfigError(
            f"device {device!r} needs ONNX Runtime's {wanted}, which this install lacks (it has {', '.join(available)}); "
            "install the matching onnxruntime package or use --device cpu"
        )
    return [wanted] if wanted == CPU else [wanted, CPU]


def open_session(
    model: Any,
    threads: int,
    device: str,
    what: str,
    providers: list[str] | None = None,
    notes: list[str] | None = None,
) -> Any:
    """A session for ``model`` (bytes or a path) on ``device``. A named device that does not really
    start is an error, since ONNX Runtime would otherwise fall back to the CPU without a word; with
    ``auto`` the CPU is an accepted outcome, said in ``notes`` (which reach the run's report)."""
    import onnxruntime as ort

    from redact.errors import ConfigError, ModelError

    wanted = providers or providers_for(device)
    missing = [p for p in wanted if p not in ort.get_available_providers()]
    if missing:
        raise ConfigError(f"ONNX Runtime provider {', '.join(missing)} is not available here; use --device cpu")
    try:
        session = ort.InferenceSession(model, session_options(threads), providers=wanted)
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ModelError(f"cannot load {what}: {exc}") from exc
    if wanted[0] not in session.get_providers():
        if device.lower() != "auto":
            raise ConfigError(f"{wanted[0]} could not be started for {what} (missing drivers or libraries?)")
        if notes is not None:
            notes.append(f"--device auto: {wanted[0]} could not be started for {what}; it ran on the CPU")
    return session
