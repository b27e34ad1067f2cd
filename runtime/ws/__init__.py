"""Agent websockets: standalone service or mounted into the api (embedded mode)."""

from runtime.ws.app import create_ws_app
from runtime.ws.options import WsOptions
from runtime.ws.server import main
from runtime.ws.service import Realtime, install_realtime

__all__ = ["Realtime", "WsOptions", "create_ws_app", "install_realtime", "main"]
