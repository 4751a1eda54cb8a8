"""`redact review`: a local page to check and correct a detections file, then render and verify it.

Imported only by the `review` command: the rest of the library has no web code.
"""
