"""Startup settings (timeouts, finalizer name), login, the API client, and probes.

Peering comes from the command line: ``--peering=<name>`` (the chart) makes the peering
object mandatory, ``--standalone`` disables it."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import kopf

from scrm_operator.kube import Kube


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = "scrm.io/operator"
    settings.posting.level = logging.WARNING
    # Re-open watches every 5 min, on top of kopf's 70 s inactivity timeout (kopf#1276, #698).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    # A timer pass (a sync handler in a thread) still running when its object is deleted is
    # checked on again after this long; kopf's 60 s held deleted objects' finalizers.
    settings.background.cancellation_polling = 1
    # Sync handlers wait on the network and on a tenant's lock: more threads than the
    # default (CPUs + 4), so that a pod's DELETED event is not queued behind them.
    settings.execution.max_workers = 32
    memo.kube = Kube.from_environment()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Service account in a pod, else ``$KUBECONFIG`` as it is at startup."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.probe(id="now")
def now(**_: Any) -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


@kopf.on.cleanup()
def close(memo: kopf.Memo, **_: Any) -> None:
    memo.kube.api.close()
