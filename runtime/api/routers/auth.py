"""Login, token refresh, logout, "who am I" and the self-service password change.

Browsers ask for ``"session": "cookie"``: the refresh token then travels only in the
``scrm_refresh`` cookie (HttpOnly, Secure, SameSite=Strict, Path=/api/auth), never in a body
that script can read. API clients keep the refresh token in the body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from runtime.api.deps import PrincipalDep, SessionDep, SettingsDep
from runtime.api.routers.agents import team_ids_of
from runtime.api.schemas.people import (
    LoginIn,
    MeOut,
    PasswordChangeIn,
    RefreshIn,
    SessionMode,
    TokenOut,
)
from runtime.domain import auth
from runtime.domain.errors import Unauthorized
from runtime.settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"])
me_router = APIRouter(prefix="/api/me", tags=["auth"])

REFRESH_COOKIE = "scrm_refresh"
_COOKIE_PATH = "/api/auth"  # refresh and logout, nothing else


def _client_address(request: Request) -> str:
    """The peer address (uvicorn's proxy-headers puts the X-Forwarded-For client here)."""
    return request.client.host if request.client else "unknown"


def _tokens(
    pair: auth.TokenPair, mode: SessionMode, response: Response, settings: Settings
) -> TokenOut:
    if mode == "token":
        return TokenOut(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.refresh_token_ttl_seconds,
        path=_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return TokenOut(access_token=pair.access_token, expires_in=pair.expires_in)


def _presented(body: RefreshIn | None, request: Request) -> tuple[str, SessionMode]:
    """The refresh token from the body, else from the cookie, and the mode it came in."""
    if body is not None and body.refresh_token:
        return body.refresh_token, "token"
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie:
        return cookie, "cookie"
    raise Unauthorized(
        "invalid_refresh_token", "No refresh token: send it in the body or the cookie."
    )


@router.post("/login", response_model=TokenOut, response_model_exclude_none=True)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    pair = await auth.login(
        session, settings, body.email, body.password, body.tenant, _client_address(request)
    )
    return _tokens(pair, body.session, response, settings)


@router.post("/refresh", response_model=TokenOut, response_model_exclude_none=True)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    body: RefreshIn | None = None,
) -> TokenOut:
    token, mode = _presented(body, request)
    return _tokens(await auth.refresh(session, settings, token), mode, response, settings)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request, response: Response, session: SessionDep, body: RefreshIn | None = None
) -> None:
    token, _ = _presented(body, request)
    response.delete_cookie(
        REFRESH_COOKIE, path=_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )
    await auth.logout(session, token)


@router.get("/me", response_model=MeOut)
async def me(principal: PrincipalDep, session: SessionDep) -> MeOut:
    agent = principal.agent
    teams = await team_ids_of(session, [agent.id])
    return MeOut(
        id=agent.id,
        email=agent.email,
        name=agent.name,
        role_id=agent.role_id,
        status=agent.status,  # type: ignore[arg-type]
        team_ids=teams.get(agent.id, []),
        created_at=agent.created_at,
        locale=agent.locale,  # type: ignore[arg-type]
        tenant_id=principal.tenant.id,
        tenant_slug=principal.tenant.slug,
        tenant_name=principal.tenant.name,
        permissions=sorted(principal.permissions),
    )


@me_router.put("/password", response_model=TokenOut, response_model_exclude_none=True)
async def change_my_password(
    body: PasswordChangeIn,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    """Any signed-in agent may change its own password. Every other session of the agent ends;
    the answer is a fresh sign-in for the caller."""
    pair = await auth.change_password(
        session,
        settings,
        principal.agent,
        body.current_password,
        body.new_password,
        _client_address(request),
    )
    return _tokens(pair, body.session, response, settings)
