"""``python -m runtime.whatsapp.simulator --port 8090 --webhook-url URL --app-secret S``."""

from __future__ import annotations

import argparse

import uvicorn

from runtime.whatsapp.simulator.app import create_app
from runtime.whatsapp.simulator.config import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WhatsApp Cloud API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--app-secret", default=SimulatorConfig.app_secret)
    parser.add_argument("--window-violation", choices=("sync", "async"), default="async")
    parser.add_argument("--status-interval", type=float, default=SimulatorConfig.status_interval)
    parser.add_argument(
        "--no-auto-statuses", action="store_true", help="emit only 'sent' automatically"
    )
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        window_violation=args.window_violation,
        status_interval=args.status_interval,
        auto_statuses=() if args.no_auto_statuses else SimulatorConfig.auto_statuses,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
