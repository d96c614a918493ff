"""The domain's closed vocabularies, each defined once.

Table ``choices``, the database CHECK constraints, the admin's dropdowns and the
API's schema all derive from these classes.
"""

from enum import StrEnum


class LeadStage(StrEnum):
    """Where a lead stands in the outreach funnel."""

    NEW = "NEW"
    CONTACTED = "CONTACTED"
    ENGAGED = "ENGAGED"
    QUALIFIED = "QUALIFIED"
    OUTCOME_APPOINTMENT = "OUTCOME_APPOINTMENT"
    OUTCOME_PURCHASE = "OUTCOME_PURCHASE"
    TAKE_OVER = "TAKE_OVER"
    CLOSED_LOST = "CLOSED_LOST"
    SUPPRESSED = "SUPPRESSED"


class LeadTag(StrEnum):
    """Signals the outreach engine attaches to a lead."""

    NO_RESPONSE = "NO_RESPONSE"
    NEUTRAL = "NEUTRAL"
    POSITIVE = "POSITIVE"
    RESISTIVE = "RESISTIVE"
    DISCONNECT = "DISCONNECT"
    STRATEGY_REVIEW_REQUIRED = "STRATEGY_REVIEW_REQUIRED"
    INTENT_APPOINTMENT = "INTENT_APPOINTMENT"
    INTENT_PURCHASE = "INTENT_PURCHASE"


class BudgetTier(StrEnum):
    """How much a workspace may spend on outreach."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


class FollowUpPreset(StrEnum):
    """How insistently a strategy follows up."""

    GENTLE = "GENTLE"
    BALANCED = "BALANCED"
    AGGRESSIVE = "AGGRESSIVE"


class StrategyStatus(StrEnum):
    """Life cycle of a strategy version."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ROLLED_BACK = "ROLLED_BACK"


class ChatRole(StrEnum):
    """Who wrote a chat message."""

    USER = "user"
    MODEL = "model"
    SYSTEM = "system"


# Stages in which the outreach engine still follows up with a lead. The others
# are terminal: an outcome was reached, a human took over, or the lead said no.
FOLLOW_UP_STAGES: tuple[LeadStage, ...] = (
    LeadStage.NEW,
    LeadStage.CONTACTED,
    LeadStage.ENGAGED,
    LeadStage.QUALIFIED,
)

# interval_overrides: {"<follow-up stage>": <whole hours until the next follow-up>}
INTERVAL_OVERRIDE_MIN_HOURS = 1
INTERVAL_OVERRIDE_MAX_HOURS = 720  # 30 days
