"""Strings that only the pages show, in Korean and English.

Names of KPIs, states, tiers, sources and programme terms live in ``assessor.domain.labels``,
shared with the reports; this table holds headings, buttons and messages.
"""

from __future__ import annotations

from typing import Any

from assessor.domain.labels import Lang

TEXTS: dict[str, tuple[str, str]] = {
    # frame
    "app_name": ("factorylens 스마트공장 성과", "factorylens smart-factory results"),
    "nav_portfolio": ("포트폴리오", "Portfolio"),
    "nav_factory": ("공장 현황", "Factory"),
    "nav_questionnaire": ("수준확인 설문", "Questionnaire"),
    "nav_baseline": ("도입 전 자료 업로드", "Baseline upload"),
    "nav_registry": ("등록 정보 편집", "Registry"),
    "logout": ("로그아웃", "Log out"),
    "signed_in_operator": ("운영기관", "Operator"),
    "signed_in_factory": ("기업 사용자", "Factory user"),
    # login
    "login_title": ("로그인", "Sign in"),
    "login_intro": (
        "발급받은 접근 토큰을 입력하세요. 토큰은 fl_ 로 시작합니다.",
        "Enter the access token you were given. It starts with fl_.",
    ),
    "token": ("접근 토큰", "Access token"),
    "login_button": ("로그인", "Sign in"),
    "login_failed": (
        "토큰이 올바르지 않거나 폐기되었습니다.",
        "The token is not valid or has been revoked.",
    ),
    "csrf_failed": (
        "요청의 출처를 확인할 수 없어 처리하지 않았습니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
        "The request did not come from this site, so nothing was done. Reload the page and try again.",
    ),
    # errors
    "error_403": ("접근 권한 없음", "Access denied"),
    "error_404": ("찾을 수 없음", "Not found"),
    "error_503": ("측정 데이터 저장소 응답 없음", "Measurement store unavailable"),
    "forbidden_factory": (
        "이 토큰으로는 해당 공장의 정보를 볼 수 없습니다.",
        "This token does not give access to that factory.",
    ),
    "operators_only": ("운영기관 사용자만 사용할 수 있습니다.", "Only operators may use this page."),
    "unknown_factory": ("등록되지 않은 공장입니다: {id}", "Unknown factory: {id}"),
    "unknown_project": (
        "이 공장에 등록되지 않은 지원사업입니다: {id}",
        "This factory has no support project {id}",
    ),
    "influx_down": (
        "InfluxDB에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
        "InfluxDB cannot be reached. Try again in a moment.",
    ),
    "back_home": ("처음 화면으로", "Back to the start page"),
    # portfolio
    "portfolio_title": ("지원기업 포트폴리오", "Portfolio of supported companies"),
    "portfolio_intro": (
        "각 기업의 지원 유형, 수준, 최근 7일 설비종합효율, 최근 지원사업의 도입 전/후 개선율"
        "(사업 참고치 대비)과 데이터 상태입니다. 열 제목을 누르면 정렬됩니다.",
        "Each company's tier, level, OEE of the last 7 days, the improvement of its latest support "
        "project against the programme reference, and data health. Click a column heading to sort.",
    ),
    "col_factory": ("기업", "Company"),
    "col_level": ("수준", "Level"),
    "col_score": ("점수", "Score"),
    "col_oee_7d": ("설비종합효율 (최근 7일)", "OEE (last 7 days)"),
    "col_health": ("데이터 상태", "Data health"),
    "reference_short": ("참고치 {ref}", "reference {ref}"),
    "meets_reference": ("참고치 달성", "meets the reference"),
    "improved": ("도입 전보다 개선", "better than before"),
    "worsened": ("도입 전보다 악화", "worse than before"),
    "below_reference": ("참고치 미달", "below the reference"),
    "last_data": ("마지막 데이터 {when} ({ago})", "Last data {when} ({ago})"),
    "no_data_window": ("최근 {days}일 데이터 없음", "no data in the last {days} days"),
    "silent_machines": ("수신 없음: {machines}", "silent: {machines}"),
    "silent_since": ("{machine}: {when}부터 수신 없음", "{machine}: silent since {when}"),
    "silent_warning": ("수집 중단 의심", "collection may have stopped"),
    "minutes_ago": ("{n}분 전", "{n} min ago"),
    "hours_ago": ("{n}시간 전", "{n} h ago"),
    "days_ago": ("{n}일 전", "{n} days ago"),
    "machines_reporting": (
        "설비 {reporting}/{machines}대 수신",
        "{reporting} of {machines} machines reporting",
    ),
    "csv_export": ("CSV 내려받기", "Download CSV"),
    "report_pdf": ("보고서 (PDF)", "Report (PDF)"),
    "report_csv": ("보고서 (CSV)", "Report (CSV)"),
    "no_factories": ("볼 수 있는 공장이 없습니다.", "There are no factories to show."),
    "no_project": ("지원사업 없음", "no support project"),
    # factory page
    "factory_title": ("{name} 현황", "{name}: overview"),
    "period": ("기간", "Period"),
    "kpi_period": ("지표 기간", "KPI period"),
    "timeline_period": ("상태 이력 기간", "Timeline period"),
    "show": ("보기", "Show"),
    "bad_period": (
        "기간을 읽을 수 없어 기본 기간으로 표시합니다: {detail}",
        "The period could not be read, so the default is shown: {detail}",
    ),
    "kpi_trend": ("일별 지표 추이", "KPIs per day"),
    "oee_waterfall": ("설비종합효율 손실 분석", "OEE losses"),
    "wf_cut": (
        "{kpi}: {why} — 그 값에 기대는 손실은 표시하지 않고 {total}에서 멈춥니다.",
        "{kpi}: {why}. The losses that rest on it are not shown; the chart stops at {total}.",
    ),
    "wf_none": (
        "{kpi}: {why} — 손실 분석을 표시하지 않습니다.",
        "{kpi}: {why}. No loss breakdown is shown.",
    ),
    "wf_unknown": (
        "데이터가 없는 계획 시간(미확인 시간) {hours} h는 손실 분석에 넣지 않았습니다.",
        "{hours} h of planned time without data (unknown time) are left out of the breakdown.",
    ),
    "small_stops_bar": ("소정지 ({limit} 미만)", "small stops (< {limit})"),
    "hours": ("시간", "hours"),
    "state_timeline": ("설비별 상태 이력", "Machine states"),
    "timeline_coarse": (
        "표시 점 수를 줄이기 위해 {bucket} 단위로 가장 많았던 상태를 보여 줍니다.",
        "To keep the chart light, each {bucket} shows its most frequent state.",
    ),
    "downtime_pareto": ("비가동 사유 파레토", "Downtime Pareto"),
    "pareto_note": (
        "상태 이력 기간의 계획 시간 중 가동하지 않은 시간(대기, 고장, 준비, 정지)을 사유별로 합산했습니다. "
        "{limit} 미만의 짧은 정지는 가동 손실이 아닌 성능 손실(소정지)이므로 사유와 관계없이 "
        "'소정지' 막대 하나로 모았습니다.",
        "Planned time not running (idle, fault, setup, stopped) in the timeline period, by reason. "
        "Stops shorter than {limit} are a performance loss (small stops), not an availability loss, so "
        "they form one bar of their own whatever their reason.",
    ),
    # products and changeovers
    "products_title": ("품목별 실적", "Products"),
    "products_note": (
        "상태 이력 기간에 품목 신호(product)가 가리킨 품목별로 생산량과 가동 시간을 나눴습니다. "
        "성능은 품목별 기준 사이클타임 x 생산량의 합을 가동 시간으로 나눈 값입니다.",
        "Units and run time split by the product signal (product) over the timeline period. "
        "Performance is the product's ideal cycle time x units over run time.",
    ),
    "col_product": ("품목", "Product"),
    "col_units": ("생산량", "Units"),
    "col_good": ("양품", "Good"),
    "col_reject": ("불량", "Rejects"),
    "col_run_h": ("가동 시간(h)", "Run time (h)"),
    "col_ideal_h": ("기준 시간(h)", "Ideal time (h)"),
    "no_product": ("품목 미확인", "no product yet"),
    "unknown_products": (
        "등록 정보에 없는 품목 코드는 설비의 기준 사이클타임으로 계산했습니다. "
        "등록 정보에 추가하세요: {codes}",
        "Product codes the registry does not know were timed by the machine's ideal cycle time. "
        "Add them to the registry: {codes}",
    ),
    "changeovers_title": ("품목 교체", "Changeovers"),
    "col_machine": ("설비", "Machine"),
    "col_from_to": ("교체 (이전 → 다음)", "Change (from → to)"),
    "col_count": ("횟수", "Count"),
    "col_setup_h": ("준비 시간(h)", "Setup time (h)"),
    "no_changeovers": ("이 기간에 품목 교체가 없습니다.", "No product changes in this period."),
    "cumulative": ("누적 비율", "Cumulative share"),
    "other_reasons": ("기타", "other"),
    "no_downtime": ("이 기간에 비가동 시간이 없습니다.", "No downtime in this period."),
    "no_kpi_data": (
        "이 기간에 수집된 설비 데이터가 없습니다. 수집기가 이 공장의 데이터를 보내고 있는지 확인하세요.",
        "No machine data in this period. Check that the collector is sending this factory's data.",
    ),
    "no_timeline_data": ("이 기간의 상태 데이터가 없습니다.", "No state data in this period."),
    "no_machines": (
        "등록된 설비가 없습니다. 등록 정보에 라인과 설비를 추가하세요.",
        "No machines are registered. Add lines and machines to the registry.",
    ),
    "kpi_totals": ("기간 합계", "Period totals"),
    "level_card": ("스마트공장 수준확인", "Smart-factory level"),
    "level_value": ("Level {level} ({name})", "Level {level} ({name})"),
    "score_of": ("{score} / 1,000점", "{score} / 1,000"),
    "gates": ("기준 항목 충족 여부", "Gates"),
    "gate_level": ("단계", "Level"),
    "evidence": ("측정값", "Evidence"),
    "threshold": ("기준", "Threshold"),
    "result": ("결과", "Result"),
    "passed": ("충족", "passed"),
    "failed": ("미충족", "failed"),
    "score_gate": ("점수", "Score"),
    "next_steps": ("다음 단계", "Next steps"),
    "top_level": ("최고 단계입니다.", "This is the top level."),
    "questionnaire_missing": (
        "설문이 없어 점수에는 측정 부분만 반영되었습니다.",
        "Without the questionnaire the score has only its measured part.",
    ),
    "gains_title": ("지원사업 도입 전/후 비교", "Before and after the support project"),
    "gains_period": (
        "도입 전 {b_start} ~ {b_end}, 도입 후 {a_start} ~ {a_end}",
        "before {b_start} to {b_end}, after {a_start} to {a_end}",
    ),
    "no_projects": (
        "등록된 지원사업이 없어 도입 전/후 비교를 할 수 없습니다.",
        "No support project is registered, so there is no before/after comparison.",
    ),
    "col_kpi": ("지표", "KPI"),
    "col_warnings": ("주의", "Warnings"),
    "days_n": ("{n}일", "{n} days"),
    "report_download": ("보고서 내려받기", "Download report"),
    # questionnaire
    "q_title": ("수준확인 설문", "Level questionnaire"),
    "q_intro": (
        "데이터로 확인할 수 없는 부분을 0~5점으로 답하세요. 저장하면 수준과 점수가 다시 계산됩니다.",
        "Rate what the data cannot show from 0 to 5. Saving recalculates the level and score.",
    ),
    "q_field": ("분야", "Field"),
    "q_item": ("항목", "Item"),
    "save": ("저장", "Save"),
    "saved": ("저장했습니다.", "Saved."),
    "q_errors": ("저장하지 않았습니다. 다음 항목을 확인하세요.", "Nothing was saved. Check these items."),
    "q_answered_at": ("마지막 저장: {when}", "Last saved: {when}"),
    # baseline
    "b_title": ("도입 전 생산 기록 업로드", "Upload the before-period production log"),
    "b_intro": (
        "수기로 관리한 일별 생산 기록(CSV 또는 XLSX)을 올리세요. 열: 날짜, 라인, 작업시간, 작업인원, "
        "생산수량, 불량수량 (선택: 에너지, 납기준수 주문수, 전체 주문수). 파일에 오류가 하나라도 있으면 "
        "아무것도 저장하지 않습니다.",
        "Upload the daily production log kept by hand (CSV or XLSX). Columns: date, line, hours worked, "
        "workers, produced, defects (optional: energy, orders on time, orders total). A file with any "
        "error stores nothing.",
    ),
    "b_orders": (
        "제조리드타임의 기준값은 주문 기록으로도 올릴 수 있습니다: 열 주문번호, 시작일시, 완료일시 "
        "(예: 2026-02-20 18:00). 주문번호 열이 있으면 주문 기록으로 읽습니다.",
        "A manufacturing lead-time baseline can come from an order log too: columns order_id, start, "
        "finish (e.g. 2026-02-20 18:00). A file with an order_id column is read as an order log.",
    ),
    "file": ("파일", "File"),
    "upload": ("업로드", "Upload"),
    "b_stored": ("{rows}행을 저장했습니다 ({file}).", "Stored {rows} rows ({file})."),
    "b_rejected": (
        "파일을 거부했습니다. 아무것도 저장하지 않았습니다: 문제 {n}건",
        "File rejected, nothing stored: {n} problem(s)",
    ),
    "b_empty": ("파일이 비어 있거나 선택되지 않았습니다.", "No file chosen, or the file is empty."),
    "b_too_large": ("파일이 {mb} MiB보다 큽니다.", "The file is larger than {mb} MiB."),
    "b_limit": (
        "파일을 거부했습니다. 아무것도 저장하지 않았습니다: {ko}",
        "File rejected, nothing stored: {en}",
    ),
    "col_row": ("행", "Row"),
    "col_column": ("열", "Column"),
    "col_message": ("내용", "Problem"),
    # registry
    "r_title": ("등록 정보 편집", "Edit the registry"),
    "r_intro": (
        "공장 정의를 등록 파일(YAML) 형식으로 고칩니다. "
        "파일에 있는 공장만 교체되고, 기록·설문·토큰은 유지됩니다.",
        "Edit factory definitions in the registry file (YAML) format. Only the factories in the text "
        "are replaced; their logs, answers and tokens stay.",
    ),
    "r_factories": ("등록된 공장", "Registered factories"),
    "r_new": ("새 공장", "New factory"),
    "r_edit": ("편집", "Edit"),
    "r_saved": ("저장했습니다: {ids}", "Saved: {ids}"),
    "r_errors": (
        "저장하지 않았습니다. 다음 위치(키 경로, 줄)를 고치세요.",
        "Nothing was saved. Fix these places (key path, line).",
    ),
    "r_too_large": ("텍스트가 {mb} MiB보다 큽니다.", "The text is larger than {mb} MiB."),
    "r_limit": ("저장하지 않았습니다: {ko}", "Nothing was saved: {en}"),
}


def t(key: str, lang: Lang, **kw: Any) -> str:
    pair = TEXTS.get(key)
    text = key if pair is None else (pair[0] if lang == "ko" else pair[1])
    return text.format(**kw) if kw else text
