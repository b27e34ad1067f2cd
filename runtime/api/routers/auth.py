"""Login, token refresh, logout and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter, status

from runtime.api.deps import PrincipalDep, SessionDep, SettingsDep
from runtime.api.routers.agents import team_ids_of
from runtime.api.schemas.people import LoginIn, MeOut, RefreshIn, TokenOut
from runtime.domain import auth

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _tokens(pair: auth.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/login", response_model=TokenOut)
async def login(body: LoginIn, session: SessionDep, settings: SettingsDep) -> TokenOut:
    return _tokens(await auth.login(session, settings, body.email, body.password, body.tenant))


@router.post("/refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep) -> TokenOut:
    return _tokens(await auth.refresh(session, settings, body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn, session: SessionDep) -> None:
    await auth.logout(session, body.refresh_token)


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
        tenant_id=principal.tenant.id,
        tenant_slug=principal.tenant.slug,
        tenant_name=principal.tenant.name,
        permissions=sorted(principal.permissions),
    )
