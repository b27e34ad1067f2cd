"""Running the ws service under uvicorn (``python -m runtime.ws``, ``scrm ws``)."""

from __future__ import annotations

import argparse
import logging
import re
from typing import Any

import uvicorn

from runtime.gc_tuning import tune_for_latency
from runtime.settings import get_settings
from runtime.ws.app import create_ws_app

_TOKEN = re.compile(r"token=[^&\s\"]+")


class RedactTokens(logging.Filter):
    """uvicorn logs websocket paths with their query string, which carries the agent's JWT."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = _TOKEN.sub("token=<redacted>", message), ()
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scrm ws", description="Serve agent websockets")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve(create_ws_app(get_settings()), args.host, args.port, args.log_level)


def serve(
    app: Any, host: str, port: int, log_level: str = "info", access_log: bool = False
) -> None:
    """Run ``app`` with uvicorn, tuned for many idle websockets, tokens kept out of logs, the
    garbage collector tuned for short pauses (runtime/gc_tuning.py)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        ws_per_message_deflate=False,  # ~14 KiB instead of ~64 KiB per idle socket
        timeout_graceful_shutdown=10,
    )
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(RedactTokens())
    tune_for_latency()
    uvicorn.Server(config).run()
