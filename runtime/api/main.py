"""Uvicorn factory for the api service, configured from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from runtime.api.app import create_app
from runtime.settings import get_settings


def app_from_env() -> FastAPI:
    return create_app(get_settings())
