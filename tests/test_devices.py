"""--device: every advertised name works for every detector, and a device that does not really
start is an error (ONNX Runtime would fall back to the CPU without a word)."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from redact.detectors import create_detector
from redact.detectors.onnx import DEVICES, providers_for
from redact.errors import ConfigError


class FallsBackToCpu:
    """A session whose accelerator failed to start: ONNX Runtime then runs on the CPU only."""

    def __init__(self, model, options, providers):
        self.asked = providers

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]


@pytest.fixture
def coreml_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """This onnxruntime says it has CoreML (as a Mac's does), but starting it fails."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CoreMLExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FallsBackToCpu)


@pytest.mark.parametrize("backend", ["centerface", "plates", "text"])
def test_an_accelerator_that_does_not_start_is_an_error_for_every_detector(backend: str, coreml_listed: None) -> None:
    with pytest.raises(ConfigError, match="could not be started"):
        create_detector(backend, device="coreml")


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_every_advertised_device_name_is_known(name: str) -> None:
    available = ort.get_available_providers()
    if DEVICES[name] in available:
        assert providers_for(name)[0] == DEVICES[name]
    else:
        with pytest.raises(ConfigError, match="install the matching onnxruntime package"):
            providers_for(name)


def test_auto_falls_back_to_the_cpu_and_unknown_names_are_refused() -> None:
    assert providers_for("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ConfigError, match="unknown device"):
        providers_for("tpu")


class StartsOnCpu:
    """A real CPU session standing in for an accelerator that failed to start."""

    def __init__(self, model, options, providers):
        self.session = REAL_SESSION(model, options, providers=["CPUExecutionProvider"])

    def __getattr__(self, name: str):
        return getattr(self.session, name)


REAL_SESSION = ort.InferenceSession


def test_auto_runs_on_the_cpu_when_the_accelerator_does_not_start_and_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """--device auto accepts the CPU, but the run's report says the accelerator did not start."""
    import numpy as np
    from PIL import Image

    from redact.pipeline.photo import redact_photo
    from redact.settings import Settings

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CoreMLExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", StartsOnCpu)
    photo = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(photo)
    report = redact_photo(photo, tmp_path / "out.png", Settings(targets=("faces",), device="auto"))
    assert any("CoreMLExecutionProvider could not be started" in w for w in report.warnings)
    assert (tmp_path / "out.png").exists()

    from media import write_clip

    from redact.pipeline.video import redact_video

    clip = write_clip(tmp_path / "in.mp4", frames=3)
    report = redact_video(clip, tmp_path / "out.mp4", Settings(targets=("faces",), device="auto"))
    assert any("CoreMLExecutionProvider could not be started" in w for w in report.warnings)
