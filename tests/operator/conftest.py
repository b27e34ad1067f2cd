"""Operator tests: the ``controlplane`` marker (``operator/`` on sys.path and the operator's
fast test timers are set by tests/conftest.py, before anything imports ``scrm_operator``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "controlplane: needs etcd + kube-apiserver (built by e2e/controlplane/build.sh)",
    )
