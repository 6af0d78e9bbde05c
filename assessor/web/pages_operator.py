"""The tablet page at the line: stops waiting for a reason, reasons, splits, comments,
scrap and count corrections (docs/web.md, "At the line").

The page is a shell; its script reads the queue from the operator API and sends the
entries there. An entry made while the factory Wi-Fi is down waits in the tablet's
localStorage with the id the page gave it and goes out when the connection is back;
the server recognises a resend by that id.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import Response

from assessor.domain import labels
from assessor.domain.downtime import ReasonStat
from assessor.domain.labels import Lang
from assessor.domain.models import Factory
from assessor.domain.operator_input import CATEGORIES, QUEUE_STATES, SOURCE_OPERATOR, SOURCE_PLC
from assessor.web import i18n
from assessor.web.base import Web

#: the page's own words; merged into the shared table so templates and the guard use them
TEXTS: dict[str, tuple[str, str]] = {
    "nav_operator": ("현장 입력", "Line input"),
    "signed_in_line": ("현장 작업자", "Line staff"),
    "line_only": (
        "현장 입력 토큰으로는 이 공장의 비가동 사유·불량·수량 입력만 할 수 있습니다.",
        "A line token can only enter downtime reasons, scrap and counts for its own factory.",
    ),
    "op_title": ("현장 입력", "Line input"),
    "op_queue": ("사유 입력 대기", "Waiting for a reason"),
    "op_entries": ("입력한 사유", "Reasons entered"),
    "op_scrap": ("불량 입력", "Scrap"),
    "op_counts": ("생산수량 정정", "Count correction"),
    "op_online": ("연결됨", "Online"),
    "op_offline": ("연결 끊김 — 입력은 태블릿에 보관됩니다", "Offline — entries are kept on this tablet"),
    "op_pending": ("전송 대기 {n}건", "{n} waiting to be sent"),
    "op_name": ("작업자 이름", "Your name"),
    "op_empty": ("사유를 기다리는 비가동이 없습니다.", "No stops are waiting for a reason."),
    "op_no_entries": ("아직 입력한 사유가 없습니다.", "No reasons entered yet."),
    "op_no_tree": (
        "이 공장에는 비가동 사유 목록이 없습니다. 운영기관에 등록을 요청하세요.",
        "This factory has no downtime reason list yet. Ask the operator to register one.",
    ),
    "op_started": ("시작", "Start"),
    "op_duration": ("지속", "Duration"),
    "op_ongoing": ("진행 중", "ongoing"),
    "op_plc_code": ("설비 코드", "Machine code"),
    "op_choose": ("사유를 고르세요", "Choose a reason"),
    "op_comment": ("메모", "Comment"),
    "op_save": ("저장", "Save"),
    "op_cancel": ("취소", "Cancel"),
    "op_edit": ("수정", "Edit"),
    "op_today_scrap": ("오늘 입력한 불량", "Scrap entered today"),
    "op_today_counts": ("오늘 입력한 수량 정정", "Count corrections entered today"),
    "op_none_today": ("오늘 입력한 것이 없습니다.", "Nothing entered today."),
    "op_split": ("둘로 나누기", "Split in two"),
    "op_split_at": ("나누는 시각", "Split at"),
    "op_first": ("앞부분 사유", "Reason, first part"),
    "op_second": ("뒷부분 사유", "Reason, second part"),
    "op_planned": ("계획", "planned"),
    "op_unplanned": ("비계획", "unplanned"),
    "op_saved": ("저장했습니다.", "Saved."),
    "op_queued": ("연결되면 보냅니다.", "Will be sent when online."),
    "op_conflict": (
        "다른 태블릿에서 먼저 바꿨습니다. 지금 저장된 내용: {current}",
        "Another tablet changed this first. Stored now: {current}",
    ),
    "op_refused": ("저장하지 못했습니다: {message}", "Not saved: {message}"),
    "op_machine": ("설비", "Machine"),
    "op_product": ("제품", "Product"),
    "op_quantity": ("수량", "Quantity"),
    "op_reason": ("사유", "Reason"),
    "op_day": ("날짜", "Day"),
    "op_shift": ("근무조", "Shift"),
    "op_old_count": ("기존 수량", "Count before"),
    "op_new_count": ("정정 수량", "Corrected count"),
    "op_by": ("입력", "by"),
    "op_units": ("{h}시간 {m}분|{m}분 {s}초|{s}초", "{h} h {m} min|{m} min {s} s|{s} s"),
    "op_source_operator": ("작업자 입력", "operator"),
    "op_source_plc": ("설비(PLC)", "PLC"),
    "reason_table": ("사유별 비가동·MTBF·MTTR", "Downtime, MTBF and MTTR by reason"),
    "reason_table_note": (
        "설비(PLC)가 사유를 보내지 않은 비가동에는 현장에서 입력한 사유를 씁니다(작업자 입력).",
        "Where the machine (PLC) sent no reason, the reason entered at the line is used (operator).",
    ),
    "col_reason": ("사유", "Reason"),
    "col_source": ("출처", "Source"),
    "col_stops": ("횟수", "Stops"),
    "col_down": ("비가동 시간", "Down time"),
}
i18n.TEXTS.update(TEXTS)

#: the words the page script needs, by language
SCRIPT_KEYS = [k for k in TEXTS if k.startswith("op_")]


def install(app: FastAPI, web: Web) -> None:
    @app.get("/factories/{factory_id}/operator", include_in_schema=False)
    async def operator_page(request: Request, factory_id: str) -> Response:
        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        if not p.can_enter(factory_id):
            return web.error(request, 403, "forbidden_factory", p)
        f = web.service.store.factory(factory_id)
        if f is None:
            return web.error(request, 404, "unknown_factory", p, id=factory_id)
        lang = web.lang(request)
        config = {
            "factory": f.id,
            "lang": lang,
            "timezone": f.calendar.timezone,
            "texts": {k: i18n.t(k, lang) for k in SCRIPT_KEYS},
            "categories": {k: v[0 if lang == "ko" else 1] for k, v in CATEGORIES.items()},
            "states": {s: labels.state_name(s, lang) for s in QUEUE_STATES},
        }
        # "<" escaped: a factory name with "</script>" must not end the script block
        ctx = {"factory": f, "config_json": json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")}
        return web.render(request, "operator.html", ctx, principal=p)


# -- the factory page's downtime Pareto and reason table ------------------------------------


def reason_label(reason: str, source: str, f: Factory, lang: Lang) -> str:
    """A reason as the Pareto names it: an operator's by its name in the reason tree and
    marked as entered at the line; a PLC's as the machine sent it."""
    if source != SOURCE_OPERATOR:
        return reason
    found = next((r for r in f.downtime_reasons if r.code == reason), None)
    name = found.name(lang) if found else reason
    return f"{name} · {i18n.t('op_source_operator', lang)}"


def by_reason_labelled(
    by_source: dict[tuple[str, str, str], float], f: Factory, lang: Lang
) -> dict[tuple[str, str], float]:
    """(state, reason, source) -> seconds as the (state, label) -> seconds the Pareto takes."""
    out: dict[tuple[str, str], float] = {}
    for (state, reason, source), seconds in by_source.items():
        key = (state, reason_label(reason, source, f, lang))
        out[key] = out.get(key, 0.0) + seconds
    return out


def reason_rows(stats: list[ReasonStat], f: Factory, lang: Lang) -> list[dict[str, str]]:
    """The reason table under the Pareto: stops, down time, MTBF and MTTR, and the source."""
    source_words = {
        SOURCE_OPERATOR: i18n.t("op_source_operator", lang),
        SOURCE_PLC: i18n.t("op_source_plc", lang),
        "": "—",
    }
    return [
        {
            "reason": reason_label(s.reason, s.source, f, lang) or labels.word("no_reason", lang),
            "source": source_words.get(s.source, s.source),
            "stops": str(s.stops),
            "down": labels.fmt_duration(s.down_s, lang),
            "mtbf": labels.fmt_duration(s.mtbf_s, lang) if s.mtbf_s is not None else "—",
            "mttr": labels.fmt_duration(s.mttr_s, lang) if s.mttr_s is not None else "—",
        }
        for s in stats
    ]


def timeline_reasons(
    by_episode: dict[tuple[str, str, float], list[tuple[str, str]]], f: Factory, lang: Lang
) -> dict[tuple[str, str, float], str]:
    """The state timeline's hover text per stop: its reasons, each with its source."""
    words = {SOURCE_PLC: i18n.t("op_source_plc", lang), SOURCE_OPERATOR: i18n.t("op_source_operator", lang)}
    names = {r.code: r.name(lang) for r in f.downtime_reasons}
    return {
        key: ", ".join(
            f"{names.get(r, r) if s == SOURCE_OPERATOR else r} ({words.get(s, s)})" for r, s in pairs
        )
        for key, pairs in by_episode.items()
        if pairs
    }
