"""Operator tests: fast operator timers and the ``controlplane`` marker (``operator/`` is put
on sys.path by tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

# Read once when scrm_operator is imported: short timers keep the e2e tests quick.
os.environ.setdefault("SCRM_OPERATOR_RESYNC_SECONDS", "2")
os.environ.setdefault("SCRM_OPERATOR_GC_SECONDS", "2")
os.environ.setdefault("SCRM_OPERATOR_RETRY_SECONDS", "1")
# Allow-lists as the chart sets them, plus the loopback servers the tests run.
os.environ.setdefault("SCRM_OPERATOR_ALLOWED_IMAGE_REPOSITORIES", "ghcr.io/scrm")
os.environ.setdefault(
    "SCRM_OPERATOR_ALLOWED_GRAPH_URLS", "https://graph.facebook.com,http://127.0.0.1:*"
)
os.environ.setdefault("SCRM_OPERATOR_ALLOWED_INTERNAL_URLS", "http://*.svc:8000,http://127.0.0.1:*")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "controlplane: needs etcd + kube-apiserver (built by e2e/controlplane/build.sh)",
    )
