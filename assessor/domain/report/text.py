"""Words only the reports use, in Korean and English. Shared names and number formats
live in assessor.domain.labels; this table holds the rest (titles, column heads, notes)."""

from __future__ import annotations

from assessor.domain.gains import REFERENCE_SOURCE, REFERENCE_SOURCE_KO
from assessor.domain.labels import Lang, pick

TEXT: dict[str, tuple[str, str]] = {
    # titles and sections
    "title_factory": ("스마트공장 도입 성과 보고서", "Smart-factory before/after report"),
    "title_portfolio": ("스마트공장 지원사업 포트폴리오 보고서", "Smart-factory programme portfolio report"),
    "section_project": ("지원사업과 비교 기간", "Support project and compared periods"),
    "section_gains": ("도입 전/후 핵심성과지표", "KPIs before and after"),
    "section_warnings": ("주의 사항", "Warnings"),
    "section_charts": ("그래프", "Charts"),
    "section_level": ("스마트공장 수준확인", "Smart-factory level"),
    "section_gates": ("수준별 기준 충족 여부", "Gates per level"),
    "section_next": ("다음 단계", "Next step"),
    "section_recent": ("최근 30일 핵심성과지표", "KPIs of the last 30 days"),
    "section_method": ("산출 방법", "Method"),
    "section_losses": ("6대 손실 (최근 30일)", "Six big losses (last 30 days)"),
    "section_summary": ("요약", "Summary"),
    "section_factories": ("공장별 현황", "Factories"),
    # facts
    "region": ("지역", "Region"),
    "employees": ("종업원 수", "Employees"),
    "employees_unit": ("명", ""),
    "factory_id": ("공장 ID", "Factory id"),
    "project_id": ("사업 ID", "Project id"),
    "project_period": ("사업 기간", "Project period"),
    "baseline_window": ("도입 전 기간", "Baseline period"),
    "after_window": ("도입 후 기간", "After period"),
    "window_source": ("데이터 출처", "Data source"),
    "no_project": (
        "등록된 지원사업이 없어 도입 전/후 비교를 하지 않았습니다. "
        "아래는 현재 수준과 최근 핵심성과지표입니다.",
        "No support project is registered, so there is no before/after comparison. The report shows the "
        "current level and recent KPIs.",
    ),
    "no_days": ("데이터 없음", "no data"),
    "generated": ("생성 일시", "Generated"),
    "page": ("쪽", "page"),
    # table heads
    "kpi": ("지표", "KPI"),
    "meets": ("참고치 달성", "Meets reference"),
    "days_ba": ("일수 (전/후)", "Days (B/A)"),
    "source_ba": ("출처 (전/후)", "Source (B/A)"),
    "ba_note": ("전/후 = 도입 전/도입 후.", "B/A = before/after."),
    "yes": ("달성", "yes"),
    "no": ("미달", "no"),
    "value": ("값", "Value"),
    "loss": ("손실", "Loss"),
    "loss_kpi": ("해당 지표", "Part of"),
    "hours": ("시간 (h)", "Hours"),
    "share_known": ("데이터 있는 계획 시간 대비", "Share of planned time with data"),
    "startup_unknown": ("데이터로 구분 불가", "not told apart in the data"),
    "excluded": ("제외", "left out"),
    "note_losses": (
        "6대 손실은 데이터가 있는 계획 시간을 나눕니다: 고장·비가동 정지와 준비·교체는 가동률, 소정지"
        "({limit} 미만의 정지)와 속도 저하는 성능가동률, 불량은 양품률의 손실입니다. 불량 시간은 불량 "
        "수량의 표준 사이클타임입니다. 초기 불량은 데이터로 생산 중 불량과 구분할 수 없어 불량에 "
        "포함됩니다. 표시되지 않은 지표(—)에 기대는 손실은 보이지 않습니다.",
        "The six big losses split the planned time with data: breakdowns and setup are availability "
        "losses, small stops (stops shorter than {limit}) and reduced speed performance losses, rejects "
        "the quality loss (the ideal time of the rejected units). Start-up rejects cannot be told apart "
        "from production rejects in the data and are part of them. A loss that rests on a KPI not shown "
        "(—) is not shown either.",
    ),
    "score": ("점수", "Score"),
    "build_level": ("구축 수준", "Build level"),
    "gate": ("기준", "Gate"),
    "evidence": ("근거 값", "Evidence"),
    "threshold": ("기준값", "Threshold"),
    "result": ("결과", "Result"),
    "passed": ("충족", "passed"),
    "failed": ("미충족", "failed"),
    "min_score": ("최소 점수", "minimum score"),
    "oee_7d": ("최근 7일 OEE", "OEE, last 7 days"),
    "data_health": ("데이터 상태", "Data health"),
    "last_data": ("최종 수집", "Last data"),
    "machines_reporting": ("수집 설비", "Machines reporting"),
    "key_gains": ("주요 개선율 (참고치)", "Key gains (reference)"),
    "targets": ("지원사업 목표", "Project targets"),
    "never": ("없음", "never"),
    "questionnaire_missing": (
        "설문 미응답: 점수에는 측정 부분만 반영되었습니다.",
        "Questionnaire not answered: the score holds only the measured part.",
    ),
    "top_level": ("최고 수준입니다. 다음 단계가 없습니다.", "Highest level reached: no further step."),
    # charts
    "chart_index": (
        "도입 전 = 100 기준 도입 후 지수 (검은 세로선: 95% 신뢰구간, 붉은 점선: 사업 참고치)",
        "After indexed to before = 100 (black whiskers: 95% interval, red dashes: programme reference)",
    ),
    "chart_trend": ("도입 후 월별 추이", "Monthly trend after the project"),
    "chart_oee": ("설비종합효율 구성 요소", "OEE components"),
    "chart_waterfall": (
        "설비종합효율 손실 분석 (최근 30일, 시간)",
        "OEE losses, last 30 days (hours)",
    ),
    "oee_left_out": ("그래프에서 제외", "not in the chart"),
    "chart_before_line": ("점선: 도입 전 값", "dashed: before value"),
    "recent_30d": ("최근 30일", "last 30 days"),
    # summary counts
    "count_factories": ("공장 수", "Factories"),
    "count_with_project": ("지원사업 보유", "With a support project"),
    "count_meets_productivity": ("생산성 참고치 달성", "Meeting the productivity reference"),
    "count_advanced": ("고도화 대상", "Advanced tier"),
    "count_silent": ("최근 데이터 없음", "No recent data"),
    "levels": ("수준 분포", "Levels"),
    # notes
    "note_causality": (
        "도입 전/후 개선율이 곧 지원사업만의 효과는 아닙니다. 2019년 중소벤처기업부 분석은 도입기업을 "
        "비슷한 미도입기업과 비교해 시장 전체의 변화를 분리했습니다. 이 보고서에는 비교 집단이 없습니다.",
        "A before/after rate is not the effect of the support alone: the 2019 Ministry of SMEs study "
        "compared adopters with matched non-adopters to separate a market-wide trend. This report has no "
        "comparison group.",
    ),
    "note_method": (
        "핵심성과지표는 ISO 22400-2 정의를 따릅니다 (가동률 = 실가동시간/계획가동시간, 성능가동률 = "
        "이론 사이클타임×생산수량/실가동시간, 양품률 = 양품/생산수량, 설비종합효율 = 세 값의 곱). "
        "기간 값은 일별 값의 평균이 아니라 분자 합계/분모 합계입니다. "
        "개선율은 (도입 후 - 도입 전)/도입 전이며 낮을수록 좋은 지표는 부호를 바꿉니다. "
        "95% 신뢰구간은 일 단위 재표본 2,000회의 백분위 "
        "부트스트랩입니다 (한쪽 5일 미만이면 산출하지 않음). 같은 날짜에 수기 기록이 있으면 자동 수집 "
        "값보다 우선합니다. 설비 상태는 수집기가 설비와 연결되어 있던 시간(liveness) 동안만 유효하며, "
        "데이터가 없는 시간은 미확인 시간입니다. 데이터 수집률이 기준보다 낮거나 값이 성립할 수 없는 "
        "지표(예: 성능가동률이 100%를 넘어 표준 사이클타임이 의심되는 경우)는 값 대신 '—'와 사유를 "
        "표시하고 개선율 계산에서 제외합니다.",
        "KPIs follow the ISO 22400-2 definitions (availability = actual production time / planned busy "
        "time, performance = ideal cycle time x units / actual production time, quality = good / produced "
        "units, OEE = their product). A period's value is the ratio of the sums of the days, never the mean "
        "of daily ratios. Improvement = (after - before) / before, sign flipped for lower-is-better KPIs. "
        "The 95% interval is a percentile bootstrap over days with 2,000 resamples (none with fewer than 5 "
        "days on a side). Manual log days win over measured days of the same date. A machine state "
        "holds only while the collector reached the machine (liveness); time without data is unknown. "
        "A KPI whose data coverage is below the threshold or whose value cannot be right (e.g. "
        "performance above 100%, a sign of a wrong ideal cycle time) is shown as '—' with the reason "
        "and left out of the gains.",
    ),
    "note_portfolio_gains": (
        "개선율은 가장 최근 지원사업의 점추정치입니다. 신뢰구간은 공장별 보고서에 있습니다.",
        "Gains are point estimates of each factory's latest support project; the factory reports give "
        "the intervals.",
    ),
    "note_level": (
        "수준 기준과 점수 기준은 문서화된 기본값이며 공식 기준이 아닙니다.",
        "Gates and score cut-offs are documented defaults, not official cut-offs.",
    ),
    # CSV
    "higher": ("높을수록 좋음", "higher"),
    "lower": ("낮을수록 좋음", "lower"),
    "area_productivity": ("생산성", "productivity"),
    "area_quality": ("품질", "quality"),
    "area_cost": ("원가", "cost"),
    "area_delivery": ("납기", "delivery"),
    # file names
    "file_factory": ("성과보고서", "report"),
    "file_portfolio": ("포트폴리오보고서", "portfolio-report"),
    "file_no_project": ("사업없음", "no-project"),
}


def tr(key: str, lang: Lang) -> str:
    return pick(TEXT[key], lang)


def reference_source(lang: Lang) -> str:
    return REFERENCE_SOURCE_KO if lang == "ko" else REFERENCE_SOURCE
