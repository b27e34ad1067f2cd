"""ORM models; importing this package registers every table on ``Base.metadata``."""

from runtime.models.campaigns import Audience, Campaign, CampaignRecipient, SenderWarmup
from runtime.models.consent import ConsentChange, DoNotContact, OutreachPolicy, OutreachSend
from runtime.models.contacts import AssignmentEvent, Contact, ImportJob
from runtime.models.events import DeadLetter, Event
from runtime.models.inbound import ConfigEpoch, InboundWebhook
from runtime.models.inbox import Conversation, Message, Template
from runtime.models.ingest_errors import IngestError
from runtime.models.media import MediaBlob, MediaBlobChunk, MediaFile
from runtime.models.outbound import RecipientBudget, SendPacing, SendQueueItem
from runtime.models.people import (
    Agent,
    AuditEntry,
    LoginThrottle,
    RefreshToken,
    Role,
    Team,
    TeamMember,
)
from runtime.models.sender_health import AlertWebhook, SenderAlert, SenderSwitch
from runtime.models.senders import Sender, SenderAllocation
from runtime.models.tenant import Tenant
from runtime.models.toolkit import CannedResponse, ConversationLabel, Label

__all__ = [
    "Agent",
    "AlertWebhook",
    "AssignmentEvent",
    "Audience",
    "Campaign",
    "CampaignRecipient",
    "CannedResponse",
    "AuditEntry",
    "ConfigEpoch",
    "ConsentChange",
    "Contact",
    "DeadLetter",
    "DoNotContact",
    "Conversation",
    "ConversationLabel",
    "Event",
    "ImportJob",
    "InboundWebhook",
    "Label",
    "IngestError",
    "LoginThrottle",
    "MediaBlob",
    "MediaBlobChunk",
    "MediaFile",
    "Message",
    "OutreachPolicy",
    "OutreachSend",
    "RecipientBudget",
    "RefreshToken",
    "Role",
    "SendPacing",
    "SendQueueItem",
    "Sender",
    "SenderAlert",
    "SenderAllocation",
    "SenderSwitch",
    "SenderWarmup",
    "Team",
    "TeamMember",
    "Template",
    "Tenant",
]
