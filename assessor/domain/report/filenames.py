"""File names of reports and the Content-Disposition header that carries them.

The name a Technopark files is the company's own (Korean) name; browsers get it through
RFC 5987 ``filename*``, and clients that only read ``filename`` get an ASCII fallback
with the factory id in place of the company name.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from urllib.parse import quote

from fastapi.responses import Response

from assessor.domain.labels import Lang
from assessor.domain.models import Factory
from assessor.domain.report.text import TEXT, tr

MAX_PART = 60
# path separators, characters Windows refuses in names, and control characters
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]+|\s+')
_RUNS = re.compile(r"_{2,}")


def safe_part(text: str) -> str:
    cleaned = _RUNS.sub("_", _UNSAFE.sub("_", text)).strip("._ ")
    return cleaned[:MAX_PART].rstrip("._ ")


def factory_file_name(factory: Factory, project_id: str | None, lang: Lang, fmt: str, day: dt.date) -> str:
    parts = [
        factory.name or factory.id,
        project_id or tr("file_no_project", lang),
        tr("file_factory", lang),
        day.isoformat(),
    ]
    return "_".join(p for p in map(safe_part, parts) if p) + f".{fmt}"


def portfolio_file_name(lang: Lang, fmt: str, day: dt.date) -> str:
    return f"factorylens_{tr('file_portfolio', lang)}_{day.isoformat()}.{fmt}"


def ascii_fallback(name: str, factory: Factory | None = None) -> str:
    """``name`` in ASCII: the company name becomes the factory id, Korean report words
    their English counterparts, any other non-ASCII character is dropped."""
    if factory is not None and (company := safe_part(factory.name)):
        name = name.replace(company, safe_part(factory.id) or "factory", 1)
    for key in ("file_factory", "file_portfolio", "file_no_project"):
        name = name.replace(TEXT[key][0], TEXT[key][1])
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _RUNS.sub("_", _UNSAFE.sub("_", ascii_name))
    stem, dot, ext = ascii_name.rpartition(".")
    stem = stem.strip("._ ") or "report"
    return f"{stem}{dot}{ext}" if dot else stem


def content_disposition(name: str, fallback: str) -> str:
    """``attachment`` with both the plain ASCII ``filename`` and the UTF-8 ``filename*``."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download(content: bytes, name: str, media_type: str, factory: Factory | None = None) -> Response:
    """A report or export as an attachment, for the API and the pages alike."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(name, ascii_fallback(name, factory)),
            # a report holds one company's figures: no shared cache may keep it
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
