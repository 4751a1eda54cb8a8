"""Covering: the regions to paint (margins, shapes) and the styles that paint them."""
