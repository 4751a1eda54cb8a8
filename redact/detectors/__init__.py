"""Detectors behind one interface, looked up by name (see :mod:`redact.detectors.base`)."""

from redact.detectors.base import Detector, available_detectors, create_detector

__all__ = ["Detector", "available_detectors", "create_detector"]
