"""Console logins: a local password form, and OpenID Connect (authorization code + PKCE).

A successful login sets the signed session cookie that the console and the
management API accept. The OIDC login in flight (state, nonce, PKCE verifier)
waits in a second signed cookie, SameSite=Lax because the provider's redirect
back is a cross-site navigation.
"""

from __future__ import annotations

from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dockyard.access.oidc import OidcLogin
from dockyard.access.principals import Principal
from dockyard.access.sessions import (
    OIDC_COOKIE,
    OIDC_LOGIN_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
)
from dockyard.errors import Denied, DockyardError, NotFound, Unauthorized
from dockyard.registry import Registry

# Where a login lands until the console has pages of its own.
HOME = "/api/v2.0/users/current"
CALLBACK = "/c/oidc/callback"


class LoginEndpoints:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def log_in(self, request: Request) -> Response:
        """``POST /c/login`` with ``principal`` and ``password`` form fields, as Harbor's."""
        try:
            form = await request.form(max_files=0, max_fields=8)
        except (MultiPartException, ValueError):  # a body that is not a form
            return _error(Unauthorized("send the principal and password as a form"), 400)
        username, password = form.get("principal"), form.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return _error(Unauthorized("send the principal and password as a form"), 400)
        try:
            principal = await self.registry.access.authenticate(username, password)
        except DockyardError as exc:
            return _error(exc)
        if principal.kind != "user":
            return _error(Denied("robots do not log in to the console"))
        response = Response(status_code=200)
        await self._start_session(request, response, principal)
        return response

    async def log_out(self, request: Request) -> Response:
        response = Response(status_code=200)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def oidc_login(self, request: Request) -> Response:
        oidc = self.registry.oidc
        if oidc is None:
            return _error(NotFound("OIDC login is not enabled (auth.mode is not oidc)"))
        try:
            login = await oidc.begin(_callback_url(request, self.registry))
        except DockyardError as exc:
            return _error(exc)
        cookie = await self.registry.cookies.sign(
            "oidc",
            {
                "state": login.state,
                "nonce": login.nonce,
                "verifier": login.code_verifier,
                "next": _safe_next(request.query_params.get("redirect_url")),
            },
        )
        response = RedirectResponse(login.url, status_code=302)
        response.set_cookie(
            OIDC_COOKIE,
            cookie,
            max_age=OIDC_LOGIN_SECONDS,
            path="/c/oidc",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def oidc_callback(self, request: Request) -> Response:
        oidc = self.registry.oidc
        if oidc is None:
            return _error(NotFound("OIDC login is not enabled (auth.mode is not oidc)"))
        stored = await self.registry.cookies.load(
            "oidc", request.cookies.get(OIDC_COOKIE), OIDC_LOGIN_SECONDS
        )
        stored = stored or {}
        login = OidcLogin(
            url="",
            state=str(stored.get("state", "")),
            nonce=str(stored.get("nonce", "")),
            code_verifier=str(stored.get("verifier", "")),
        )
        try:
            identity = await oidc.complete(
                _callback_url(request, self.registry), login, dict(request.query_params)
            )
            if not self.registry.settings.auth.oidc.auto_onboard:
                await self.registry.users.require_external(identity.subject)
            principal = await self.registry.users.onboard(identity, "oidc")
        except DockyardError as exc:
            response = _error(exc)
        else:
            response = RedirectResponse(_safe_next(stored.get("next")), status_code=303)
            await self._start_session(request, response, principal)
        # The login in flight is good for one answer only.
        response.delete_cookie(OIDC_COOKIE, path="/c/oidc")
        return response

    async def _start_session(
        self, request: Request, response: Response, principal: Principal
    ) -> None:
        cookie = await self.registry.cookies.sign("session", {"user": principal.name})
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def _callback_url(request: Request, registry: Registry) -> str:
    base = registry.settings.auth.base_url(request.url.scheme, request.url.netloc)
    return f"{base}{CALLBACK}"


def _safe_next(value: object) -> str:
    """A local path to go to after the login; anything else (another site) goes home."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return HOME


def _error(exc: DockyardError, status: int | None = None) -> Response:
    body = {"errors": [{"code": exc.code, "message": exc.message}]}
    return JSONResponse(body, status_code=status or exc.status)


def routes(registry: Registry) -> list[Route]:
    endpoints = LoginEndpoints(registry)
    return [
        Route("/c/login", endpoints.log_in, methods=["POST"]),
        Route("/c/log_out", endpoints.log_out, methods=["GET", "POST"]),
        Route("/c/oidc/login", endpoints.oidc_login, methods=["GET"]),
        Route(CALLBACK, endpoints.oidc_callback, methods=["GET"]),
    ]
