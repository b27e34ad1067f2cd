"""Enumerate the api's routes and the permissions each one declares."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute

from runtime.api.app import ROUTERS
from runtime.api.deps import RequirePermission


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permissions: tuple[str, ...]

    def url(self, **params: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], self.path)

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def _declared(route: APIRoute) -> tuple[str, ...]:
    found: list[str] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RequirePermission):
            found.extend(dependant.call.permissions)
        stack.extend(dependant.dependencies)
    return tuple(dict.fromkeys(found))


def endpoints(app: FastAPI) -> list[Endpoint]:
    """The endpoints of every router the app includes (walked from ``ROUTERS``)."""
    out = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods or ()):
                out.append(Endpoint(method, route.path, _declared(route)))
    assert {e.path for e in out} <= set(app.openapi()["paths"])
    return out


# Endpoints that only need a signed-in principal (or nothing), on purpose.
OPEN = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/me"),
    ("PUT", "/api/me/status"),
    ("PUT", "/api/me/password"),
    ("PUT", "/api/me/locale"),
}
