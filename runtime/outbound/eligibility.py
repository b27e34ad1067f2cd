"""Who may be contacted: the one place the send path asks before a message is queued.

Consent (opt-outs), do-not-contact lists, cooldowns and quiet hours plug in here (issue 11,
"Consent and eligibility"); until then every contact is eligible at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.domain.outbound import TemplateOut, TextOut
from runtime.models import Contact, Sender


async def check_eligibility(
    session: AsyncSession,
    contact: Contact,
    sender: Sender,
    outgoing: TextOut | TemplateOut,
    now: datetime,
) -> datetime | None:
    """Raise :class:`~runtime.domain.errors.Conflict` (naming the rule) to refuse the send,
    or return the moment it may go (quiet hours defer, not drop); ``None``: right away."""
    return None
