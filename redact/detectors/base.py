"""The detector interface and the registry that finds backends by name.

A detector takes one upright BGR frame (H x W x 3 uint8) and returns
:class:`~redact.detections.Detections` in that frame's pixels. Backends are
imported only when asked for, so optional dependencies cost nothing unused.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np

from redact.detections import Detections
from redact.errors import ConfigError, ModelError


@runtime_checkable
class Detector(Protocol):
    #: the kind of object this detector finds ("face", "plate", "text")
    kind: str

    def detect(self, image: np.ndarray) -> Detections: ...


@runtime_checkable
class Sighted(Protocol):
    """A detector that says how small an object each of its passes finds reliably: the tracker
    takes a pass that found nothing where such an object should be as evidence that it is gone."""

    def sight(self, height: int, width: int, coarse: bool = False) -> float | None:
        """The smallest size (mean of width and height, frame pixels) the full pass (or the coarse
        one) finds reliably in a frame of this size; None: no claim."""
        ...


# name -> "module:factory"; the factory takes keyword options and returns a Detector.
# Adding a detector: one module with a ``create(**options)`` factory, and one line here.
_BACKENDS: dict[str, str] = {
    "centerface": "redact.detectors.centerface:create",
    "plates": "redact.detectors.plates:create",
    "text": "redact.detectors.text:create",
    "yunet": "redact.detectors.yunet:create",
}


def available_detectors() -> list[str]:
    return sorted(_BACKENDS)


def create_detector(name: str, **options: Any) -> Detector:
    target = _BACKENDS.get(name)
    if target is None:
        raise ConfigError(f"unknown detector {name!r}; available: {', '.join(available_detectors())}")
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ModelError(f"detector {name!r} cannot be loaded: {exc}") from exc
    return factory(**options)
