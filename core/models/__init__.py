"""Every table of LeadLoop. Importing this package registers them all on `SQLModel.metadata`."""

from sqlmodel import SQLModel

# Named constraints, so that Alembic can alter and drop them on every database (SQLite too).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from core.models.intake import IntakeKey, LeadSource, WebhookDelivery  # noqa: E402
from core.models.leads import (  # noqa: E402
    Activity,
    Attachment,
    Lead,
    LeadTag,
    StageChange,
    Tag,
    Task,
)
from core.models.money import Contract, Installment, Payment  # noqa: E402
from core.models.routing import ClaimBlock, LeadOffer, RoutingRule  # noqa: E402
from core.models.system import AuditEntry, ConversationState, OutboxMessage  # noqa: E402
from core.models.teams import Invite, Team, User  # noqa: E402
from core.models.types import (  # noqa: E402
    OPEN_STATES,
    Channel,
    Grade,
    LeadState,
    OutboxStatus,
    Role,
    utcnow,
)

__all__ = [
    "OPEN_STATES",
    "Activity",
    "Attachment",
    "AuditEntry",
    "Channel",
    "ClaimBlock",
    "Contract",
    "ConversationState",
    "Grade",
    "Installment",
    "IntakeKey",
    "Invite",
    "Lead",
    "LeadOffer",
    "LeadSource",
    "LeadState",
    "LeadTag",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "Role",
    "RoutingRule",
    "StageChange",
    "Tag",
    "Task",
    "Team",
    "User",
    "WebhookDelivery",
    "utcnow",
]
