"""What every page needs: templates, language, the session cookie, access checks, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from assessor.domain import labels
from assessor.domain.labels import Lang
from assessor.domain.models import Factory
from assessor.services import AssessorService
from assessor.services.auth import Principal, Role, authenticate
from assessor.web import i18n

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: everything from this host only: an offline edge box has nothing else, and a page that
#: tried would hang; plotly.js sets inline styles and draws with data: images
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SESSION_COOKIE = "fl_session"
LANG_COOKIE = "fl_lang"
#: the language choice outlives a session; a year, like most sites keep it
LANG_MAX_AGE_S = 365 * 86400
#: a browser session cookie: it ends with the browser, the token itself may live longer
SESSION_MAX_AGE_S: int | None = None


class Web:
    """The dashboard's shared state: the service and the template environment."""

    def __init__(self, service: AssessorService) -> None:
        self.service = service
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html", "xml"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -- language ---------------------------------------------------------------

    @staticmethod
    def lang(request: Request) -> Lang:
        asked = request.query_params.get("lang")
        if asked in labels.LANGS:
            return labels.parse_lang(asked)
        return labels.parse_lang(request.cookies.get(LANG_COOKIE))

    # -- session ----------------------------------------------------------------

    def principal(self, request: Request) -> Principal | None:
        """Every request re-authenticates: a revoked token ends the session at once."""
        token = request.cookies.get(SESSION_COOKIE)
        return authenticate(self.service.store, token) if token else None

    @staticmethod
    def landing(p: Principal) -> str:
        if p.role is Role.OPERATOR or p.factory_id is None:
            return "/portfolio"
        if p.role is Role.LINE:
            return f"/factories/{quote(p.factory_id, safe='')}/operator"
        return f"/factories/{quote(p.factory_id, safe='')}"

    @staticmethod
    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    # -- rendering --------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        principal: Principal | None = None,
    ) -> HTMLResponse:
        lang = self.lang(request)
        ctx = {
            "lang": lang,
            "t": lambda key, **kw: i18n.t(key, lang, **kw),
            "L": labels,
            "principal": principal,
            "path": request.url.path,
            "lang_url": lambda code: _with_query(request, lang=code),
            **context,
        }
        html = self.env.get_template(template).render(ctx)
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        # pages show one company's figures: nobody else may frame or sniff them
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.query_params.get("lang") in labels.LANGS:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=LANG_MAX_AGE_S, samesite="lax", secure=is_https(request)
            )
        return response

    def error(
        self, request: Request, status: int, key: str, principal: Principal | None = None, **kw: Any
    ) -> HTMLResponse:
        return self.render(
            request,
            "error.html",
            {"status": status, "title_key": f"error_{status}", "message_key": key, "message_args": kw},
            status=status,
            principal=principal,
        )

    def factory_access(self, request: Request, factory_id: str) -> tuple[Principal, Factory] | Response:
        """The signed-in caller and the factory, or the response to send instead: the
        login page, the 403/404 page, or (for a POST from another site) a 403."""
        p = self.principal(request)
        if p is None:
            return self.to_login(request)
        f = self.factory_or_error(request, p, factory_id)
        if isinstance(f, Response):
            return f
        if request.method == "POST" and not same_origin(request):
            return self.error(request, 403, "csrf_failed", p)
        return p, f

    def factory_or_error(self, request: Request, p: Principal, factory_id: str) -> Factory | HTMLResponse:
        """The same rule as the API: a factory user gets 403 for any other id, known or not,
        so the pages cannot tell it which factories exist."""
        if not p.can_see(factory_id):
            return self.error(request, 403, "forbidden_factory", p)
        found = self.service.store.factory(factory_id)
        if found is None:
            return self.error(request, 404, "unknown_factory", p, id=factory_id)
        return found


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _with_query(request: Request, **changes: str) -> str:
    params = dict(request.query_params)
    params.update(changes)
    return request.url.path + "?" + urlencode(params)


def same_origin(request: Request) -> bool:
    """CSRF check of a state-changing POST: the Origin (or, without it, the Referer)
    must name this host. Browsers send Origin on every cross-site POST, so a forged
    form fails here even where SameSite=Strict is not honoured."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer:
        return urlsplit(referer).netloc == host
    return False


def attachment(content: bytes, filename: str, media_type: str, factory: Factory | None = None) -> Response:
    """A download with an ASCII fallback name and the real (UTF-8) one as RFC 5987 filename*."""
    from assessor.domain.report.filenames import download

    return download(content, filename, media_type, factory)
