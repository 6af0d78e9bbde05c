"""Reading generated PDF reports back: text and embedded fonts (pypdf)."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "reports"


def pdf_text(content: bytes) -> str:
    """All text, whitespace runs as one space: a table cell wraps "productivity +30%"
    onto two lines, and the reader should still find it."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def embedded_fonts(content: bytes) -> dict[str, bool]:
    """BaseFont name -> whether its descriptor carries a TrueType font program (FontFile2)."""
    reader = PdfReader(io.BytesIO(content))
    found: dict[str, bool] = {}
    for page in reader.pages:
        resources = page.get("/Resources")
        fonts = resources.get_object().get("/Font") if resources else None
        for ref in (fonts.get_object() if fonts else {}).values():
            font = ref.get_object()
            descriptor = font.get("/FontDescriptor")
            name = str(font.get("/BaseFont"))
            has_program = descriptor is not None and "/FontFile2" in descriptor.get_object()
            found[name] = found.get(name, False) or has_program
    return found


def save_artifact(name: str, content: bytes) -> Path:
    """Keep a generated report for people to open (test-artifacts/ is not versioned)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(content)
    return path
