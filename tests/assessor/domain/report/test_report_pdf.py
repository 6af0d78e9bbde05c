"""PDF reports rendered from report data built in memory (no InfluxDB)."""

from __future__ import annotations

from assessor.domain.labels import fmt_interval, fmt_kpi, fmt_signed_pct
from assessor.domain.report.pdf_factory import render_factory_pdf
from assessor.domain.report.pdf_portfolio import render_portfolio_pdf
from tests.support.report_pdf import embedded_fonts, pdf_text, save_artifact
from tests.support.report_samples import FLAGGED_KPIS, factory_data, portfolio_data


def _nanum_embedded(content: bytes) -> None:
    fonts = embedded_fonts(content)
    nanum = {name: embedded for name, embedded in fonts.items() if "NanumGothic" in name}
    assert nanum, f"no Nanum Gothic font in {sorted(fonts)}"
    assert all(nanum.values()), f"Nanum Gothic named but not embedded: {nanum}"


def test_korean_factory_report_states_the_gains_and_embeds_the_font():
    data = factory_data()
    content = render_factory_pdf(data, "ko")
    save_artifact("unit-factory-ko.pdf", content)
    assert content.startswith(b"%PDF-")
    _nanum_embedded(content)
    text = pdf_text(content)
    assert "시뮬정밀" in text and "스마트공장 도입 성과 보고서" in text
    assert "sp-2024" in text and "2024-01-01 ~ 2024-01-10" in text and "2024-02-01 ~ 2024-04-30" in text
    uph = data.gain("units_per_hour")
    assert uph is not None
    for shown in (fmt_kpi("units_per_hour", uph.before), fmt_kpi("units_per_hour", uph.after)):
        assert shown in text
    assert fmt_signed_pct(uph.improvement) in text
    assert fmt_interval(uph.ci95_low, uph.ci95_high) in text
    assert "시간당 생산량" in text and "공정불량률" in text and "생산성 30% 향상" in text
    assert "수기 기록" in text and "자동 수집" in text  # the sources of the two sides
    assert "측정 방식의 차이" in text  # the mixed-sources warning
    assert "0.0 / 1,000" in text and "Level 1 (점검)" in text and "미충족" in text
    assert "2024-05-05 10:30 (Asia/Seoul)" in text
    assert "ISO 22400" in text


def test_english_factory_report():
    content = render_factory_pdf(factory_data(), "en")
    save_artifact("unit-factory-en.pdf", content)
    _nanum_embedded(content)
    text = pdf_text(content)
    assert "Smart-factory before/after report" in text and "시뮬정밀" in text
    assert "Units per hour" in text and "Process defect rate" in text and "productivity +30%" in text
    assert "manual log" in text and "Level 1 (checking)" in text and "bootstrap" in text


def test_factory_without_project_gets_level_and_recent_kpis():
    content = render_factory_pdf(factory_data(with_project=False), "ko")
    text = pdf_text(content)
    assert "평범산업 <주>" in text  # registry text is escaped, not read as markup
    assert "등록된 지원사업이 없어" in text
    assert "수준확인" in text and "61.2%" in text
    assert "123,456" in text and "123,456.0" not in text


def test_portfolio_report_lists_every_factory():
    content = render_portfolio_pdf(portfolio_data(), "ko")
    save_artifact("unit-portfolio-ko.pdf", content)
    _nanum_embedded(content)
    text = pdf_text(content)
    assert "시뮬정밀" in text and "다른공장" in text
    assert "+35.0%" in text and "Level 2: 2" in text
    assert "1/2" in text and "2024-05-05 10:29" in text


def test_the_kpi_table_gains_the_six_big_losses_and_the_waterfall():
    content = render_factory_pdf(factory_data(), "ko")
    text = pdf_text(content)
    assert "6대 손실 (최근 30일)" in text
    names = ("고장·비가동 정지", "준비·교체", "소정지", "속도 저하", "불량", "미확인 시간", "완전 생산 시간")
    assert all(name in text for name in names), [n for n in names if n not in text]
    assert "데이터로 구분 불가" in text  # start-up rejects
    assert "설비종합효율 손실 분석 (최근 30일, 시간)" in text
    # breakdowns: 30 h of 680 h known time
    assert "30.0" in text and "4.4%" in text
    en = pdf_text(render_factory_pdf(factory_data(), "en"))
    assert "Six big losses (last 30 days)" in en and "Reduced speed" in en and "Small stops" in en


def test_a_too_slow_ideal_cycle_time_is_flagged_in_the_pdf_never_printed():
    data = factory_data(recent_kpis=FLAGGED_KPIS)
    for lang, reason in (("ko", "이상치(표준 사이클타임 확인)"), ("en", "implausible ideal cycle time")):
        content = render_factory_pdf(data, lang)
        save_artifact(f"unit-factory-flagged-{lang}.pdf", content)
        text = pdf_text(content)
        assert f"— {reason}" in text
        assert "432" not in text and "4.32" not in text
    text = pdf_text(render_factory_pdf(data, "ko"))
    # OEE of the after side is flagged: no gain from it, the reason instead
    assert "제외" in text and "개선율 계산에서 제외" in text
    gain = data.gain("oee")
    assert gain is not None and gain.excluded_reason == "after:implausible_ideal_time"
    # the waterfall stops at the running time; the losses resting on the ideal time say why
    assert "가동 시간 (정지·소정지 제외)" in text and "— 성능가동률: 이상치(표준 사이클타임 확인)" in text


def test_portfolio_report_names_flags_instead_of_values():
    data = portfolio_data()
    sim = dict(data.rows[0])
    sim["oee_7d"] = None
    sim["flags_7d"] = [{"kpi": "oee", "reason": "implausible_ideal_time", "value": 4.32}]
    sim["gains"] = [
        {
            **sim["gains"][0],
            "after": None,
            "improvement": None,
            "meets_reference": None,
            "excluded_reason": "after:coverage",
            "excluded": [{"side": "after", "reason": "coverage", "coverage": 0.55}],
        }
    ]
    flagged = type(data)(data.factories, (sim, data.rows[1]), data.generated_at)
    text = pdf_text(render_portfolio_pdf(flagged, "ko"))
    # narrow cells break Korean between any two syllables: compare without spaces
    compact = text.replace(" ", "")
    assert "—이상치(표준사이클타임확인)" in compact
    assert "시간당생산량제외(도입후:데이터부족(수집률55.0%))" in compact
    assert "432" not in text and "+35.0%" not in text
