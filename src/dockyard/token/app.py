"""``/service/token``: trades credentials (or none) for a bearer token with granted scopes.

GET is the protocol every registry client speaks (token.md); POST is its OAuth2
form with the password grant (oauth.md). Unknown or refused scopes are not an
error: the token carries what the caller may have, and the registry refuses the rest.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dockyard.access.credentials import basic_credentials
from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.scopes import parse_scopes
from dockyard.errors import DockyardError, InvalidInput, Unauthorized
from dockyard.registry import Registry

_MAX_SCOPES = 64


class TokenEndpoint:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def get(self, request: Request) -> Response:
        try:
            self._check_service(request.query_params.get("service"))
            principal = await self._principal(request.headers.get("authorization"))
            scopes = request.query_params.getlist("scope")
            return _json(await self._token(principal, scopes))
        except DockyardError as exc:
            return _error(exc)

    async def post(self, request: Request) -> Response:
        """The OAuth2 form: ``grant_type=password`` with username and password."""
        try:
            form = await request.form(max_files=0, max_fields=_MAX_SCOPES + 16)
        except Exception:
            return _oauth_error("invalid_request", "the body is not a form", 400)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if fields.get("grant_type") != "password":
            return _oauth_error(
                "unsupported_grant_type", "only the password grant is supported", 400
            )
        try:
            self._check_service(fields.get("service"))
            principal = await self.registry.access.authenticate(
                fields.get("username", ""), fields.get("password", "")
            )
        except Unauthorized as exc:
            return _oauth_error("invalid_grant", exc.message, 401)
        except DockyardError as exc:
            return _oauth_error("invalid_request", exc.message, exc.status)
        scopes = [s for value in form.getlist("scope") if isinstance(value, str) for s in [value]]
        body = await self._token(principal, scopes)
        body["scope"] = " ".join(body.pop("granted"))
        body.pop("token")
        return _json(body)

    async def _principal(self, authorization: str | None) -> Principal:
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("the token endpoint takes Basic credentials")
        username, password = basic_credentials(credentials)
        return await self.registry.access.authenticate(username, password)

    async def _token(self, principal: Principal, requested: list[str]) -> dict[str, Any]:
        if len(requested) > _MAX_SCOPES:
            raise InvalidInput(f"at most {_MAX_SCOPES} scopes in one token")
        granted = await self.registry.access.grant(principal, parse_scopes(requested))
        issued = await self.registry.tokens.issue(principal, [s for s in granted if s.actions])
        return {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at,
            "granted": [str(s) for s in granted if s.actions],
        }

    def _check_service(self, service: str | None) -> None:
        expected = self.registry.settings.auth.service
        if service and service != expected:
            raise InvalidInput(f"this token service is {expected!r}, not {service!r}")


def _json(body: dict[str, Any]) -> Response:
    body.pop("granted", None)
    return Response(orjson.dumps(body), media_type="application/json")


def _error(exc: DockyardError) -> Response:
    body = {"errors": [{"code": exc.code, "message": exc.message, "detail": exc.detail}]}
    headers = {"WWW-Authenticate": 'Basic realm="dockyard"'} if exc.status == 401 else None
    return Response(orjson.dumps(body), exc.status, headers, media_type="application/json")


def _oauth_error(error: str, description: str, status: int) -> Response:
    body = {"error": error, "error_description": description}
    return Response(orjson.dumps(body), status, media_type="application/json")


def routes(registry: Registry) -> list[Route]:
    endpoint = TokenEndpoint(registry)
    return [
        Route("/service/token", endpoint.get, methods=["GET"]),
        Route("/service/token", endpoint.post, methods=["POST"]),
    ]
