"""Report file names and the Content-Disposition header (RFC 6266 / RFC 5987)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from assessor.domain.models import Factory
from assessor.domain.report.filenames import (
    ascii_fallback,
    content_disposition,
    factory_file_name,
    portfolio_file_name,
    safe_part,
)

DAY = dt.date(2024, 5, 5)
FACTORY = Factory("sim-factory", "시뮬정밀")


def test_factory_file_name_uses_the_company_name():
    assert (
        factory_file_name(FACTORY, "sp-2024", "ko", "pdf", DAY)
        == "시뮬정밀_sp-2024_성과보고서_2024-05-05.pdf"
    )
    assert factory_file_name(FACTORY, None, "en", "csv", DAY) == "시뮬정밀_no-project_report_2024-05-05.csv"
    assert portfolio_file_name("ko", "pdf", DAY) == "factorylens_포트폴리오보고서_2024-05-05.pdf"


def test_unsafe_characters_never_reach_the_name():
    hostile = Factory("x", '../../etc/pa"ss\\wd;\r\nSet-Cookie: a=b  (주)')
    name = factory_file_name(hostile, "p/1", "ko", "pdf", DAY)
    for ch in '/\\"\r\n;:':
        assert ch not in name
    assert not name.startswith(".")
    assert len(safe_part("가" * 500)) == 60


def test_ascii_fallback_puts_the_factory_id_in_place_of_the_company():
    name = factory_file_name(FACTORY, "sp-2024", "ko", "pdf", DAY)
    assert ascii_fallback(name, FACTORY) == "sim-factory_sp-2024_report_2024-05-05.pdf"
    assert (
        ascii_fallback(portfolio_file_name("ko", "csv", DAY)) == "factorylens_portfolio-report_2024-05-05.csv"
    )
    assert ascii_fallback("가나다.pdf") == "report.pdf"
    assert ascii_fallback(name, FACTORY).isascii()


def test_content_disposition_carries_both_names():
    name = factory_file_name(FACTORY, "sp-2024", "ko", "pdf", DAY)
    header = content_disposition(name, ascii_fallback(name, FACTORY))
    assert header.startswith('attachment; filename="sim-factory_sp-2024_report_2024-05-05.pdf"; ')
    assert header.isascii()
    star = header.split("filename*=", 1)[1]
    charset, _, encoded = star.split("'", 2)
    assert charset == "UTF-8" and unquote(encoded, encoding="utf-8") == name
    # RFC 5987 attr-chars only: everything else is percent-encoded
    assert all(c.isalnum() or c in "%-._~" for c in encoded)
