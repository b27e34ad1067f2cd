"""In-memory simulator of Meta's WhatsApp Cloud API side (Graph API subset + webhooks)."""

from runtime.whatsapp.simulator.app import create_app
from runtime.whatsapp.simulator.config import SimulatorConfig
from runtime.whatsapp.simulator.engine import Simulator

__all__ = ["Simulator", "SimulatorConfig", "create_app"]
