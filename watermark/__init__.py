"""Watermark engine and clip authenticity."""
