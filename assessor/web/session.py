"""Login by token, logout, and the start page that sends each user where they belong."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assessor.services.auth import authenticate
from assessor.web.base import SESSION_COOKIE, SESSION_MAX_AGE_S, Web, is_https, same_origin

#: a pasted token is ~70 characters; anything much longer is not one
MAX_TOKEN_CHARS = 512


def _safe_next(target: str | None) -> str | None:
    """Only a local path: a login link must not bounce the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def install(app: FastAPI, web: Web) -> None:
    @app.get("/", include_in_schema=False)
    async def start(request: Request) -> Response:
        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        return RedirectResponse(web.landing(p), status_code=303)

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request) -> HTMLResponse:
        return web.render(
            request, "login.html", {"error_key": None, "next": request.query_params.get("next")}
        )

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        target = _safe_next(str(form.get("next") or "") or None)
        if not same_origin(request):
            return web.render(request, "login.html", {"error_key": "csrf_failed", "next": target}, status=403)
        token = str(form.get("token") or "").strip()[:MAX_TOKEN_CHARS]
        p = authenticate(web.service.store, token) if token else None
        if p is None:
            return web.render(
                request, "login.html", {"error_key": "login_failed", "next": target}, status=401
            )
        # a factory user's "next" may point at another factory: the page will refuse it
        response = RedirectResponse(target or web.landing(p), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
            path="/",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if not same_origin(request):
            return web.error(request, 403, "csrf_failed")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
        )
        return response
