"""Templates (Jinja2) and vendored static assets of the pages; no CDN, no build step."""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC", "TEMPLATES"]

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
