"""redact: find and cover faces and licence plates in video and photos, offline."""

__version__ = "0.1.0"
