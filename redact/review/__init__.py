"""Human review: the detections file, contact sheets and previews, `verify`, and the review studio (a local page)."""
