"""A simulated customer's phone at ``/phone``: the customer side of the demo in a browser.

Pick who you are (WhatsApp id and name), write to the business number, and read what the
business sends back with its delivery state; a button advances the simulated clock by 25 h to
close the customer-service window. Uses only the control and Graph state of this simulator.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE = (Path(__file__).parent / "phone.html").read_text()


@router.get("/phone", response_class=HTMLResponse, include_in_schema=False)
async def phone() -> str:
    return PAGE
