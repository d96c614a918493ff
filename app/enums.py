"""The domain's closed vocabularies, each defined once.

Table ``choices``, the database CHECK constraints, the admin's dropdowns and the
API's schema all derive from these classes.
"""

from enum import IntEnum, StrEnum


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


class MessagingTier(StrEnum):
    """WhatsApp's messaging limit: how many unique people a business portfolio may reach
    with business-initiated (template) messages in a moving 24 hours."""

    TIER_250 = "TIER_250"
    TIER_2K = "TIER_2K"
    TIER_10K = "TIER_10K"
    TIER_100K = "TIER_100K"
    UNLIMITED = "UNLIMITED"

    @property
    def limit(self) -> int | None:
        """People per moving 24 hours; None when unlimited."""
        return MESSAGING_LIMITS[self]


MESSAGING_LIMITS: dict[MessagingTier, int | None] = {
    MessagingTier.TIER_250: 250,
    MessagingTier.TIER_2K: 2_000,
    MessagingTier.TIER_10K: 10_000,
    MessagingTier.TIER_100K: 100_000,
    MessagingTier.UNLIMITED: None,
}


class TemplateCategory(StrEnum):
    """WhatsApp's template categories; a follow-up outside the service window is a
    MARKETING template."""

    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


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


class SendKind(StrEnum):
    """Why we write: first (a follow-up) or in answer to the lead (a reply)."""

    FOLLOWUP = "followup"
    REPLY = "reply"


class MessageFormat(StrEnum):
    """What WhatsApp lets a business send: free text inside the customer-service
    window (24 h after the lead's last message), an approved template outside it."""

    FREE_FORM = "free_form"
    TEMPLATE = "template"


class Weekday(StrEnum):
    """Days of the week, Monday first (``date.weekday()`` order)."""

    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class ReasonCode(StrEnum):
    """Why the policy engine allowed or refused a send: the rules, in the order checked."""

    LEAD_SUPPRESSED = "LEAD_SUPPRESSED"
    LEAD_DISCONNECTED = "LEAD_DISCONNECTED"
    HUMAN_TAKEOVER = "HUMAN_TAKEOVER"
    ATTESTATION_MISSING = "ATTESTATION_MISSING"
    REPLY_WINDOW_CLOSED = "REPLY_WINDOW_CLOSED"
    LEAD_CLOSED = "LEAD_CLOSED"
    MARKETING_STOPPED = "MARKETING_STOPPED"
    CONSENT_MISSING = "CONSENT_MISSING"
    LEAD_UNREACHABLE = "LEAD_UNREACHABLE"
    NO_ACTIVE_STRATEGY = "NO_ACTIVE_STRATEGY"
    BUDGET_RED = "BUDGET_RED"
    STOP_UNANSWERED = "STOP_UNANSWERED"
    CHANNEL_RESTRICTED = "CHANNEL_RESTRICTED"
    ZONE_UNRESOLVED = "ZONE_UNRESOLVED"
    NO_SEND_WINDOW = "NO_SEND_WINDOW"
    OUTBOUND_CAP_24H = "OUTBOUND_CAP_24H"
    USER_MARKETING_LIMIT = "USER_MARKETING_LIMIT"
    MESSAGING_LIMIT = "MESSAGING_LIMIT"
    BLOCKED_DATE = "BLOCKED_DATE"
    PUBLIC_HOLIDAY = "PUBLIC_HOLIDAY"
    SUNDAY_HOLD = "SUNDAY_HOLD"
    QUIET_HOURS = "QUIET_HOURS"
    POLICY_PASSED = "POLICY_PASSED"


# The hard floor of every workspace's send policy: a workspace may narrow it, never widen it.
FLOOR_SEND_WINDOW = ("09:00", "21:00")  # local wall-clock time, start inclusive, end exclusive
FLOOR_SEND_DAYS: tuple[Weekday, ...] = (
    Weekday.MON,
    Weekday.TUE,
    Weekday.WED,
    Weekday.THU,
    Weekday.FRI,
    Weekday.SAT,
)


class DeliveryStatus(StrEnum):
    """What WhatsApp reports about a message we sent."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class PlatformError(IntEnum):
    """WhatsApp Cloud API error codes a failed status carries that the engine acts on."""

    UNDELIVERABLE = 131026  # not on WhatsApp, or blocked us: held until the lead writes
    USER_MARKETING_LIMIT = 131049  # per-user marketing limit: no follow-up for 24 h
    REENGAGEMENT = 131047  # free form sent more than 24 h after the person wrote
    THROUGHPUT = 130429  # our sending rate: slow down, not the lead's fault
    PAIR_RATE = 131056  # too many messages to one person too fast: not the lead's fault


# Whole inbound messages that mean "stop contacting me", unless a workspace lists its own.
DEFAULT_OPT_OUT_WORDS = ("STOP", "UNSUBSCRIBE", "BERHENTI", "CANCEL", "END", "QUIT", "OPTOUT")

# A send permit (an allowed policy decision) is good for one message within this time.
SEND_PERMIT_MINUTES = 15

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
INTERVAL_OVERRIDE_HOURS = f"{INTERVAL_OVERRIDE_MIN_HOURS}..{INTERVAL_OVERRIDE_MAX_HOURS}"


class MarketingPreference(StrEnum):
    """What a lead said about receiving marketing messages."""

    STOP = "stop"
    RESUME = "resume"


class PreferenceSource(StrEnum):
    """How a lead's marketing preference reached us."""

    # WhatsApp's own "Stop"/"Resume" for a business's marketing messages (user_preferences).
    PLATFORM_SETTING = "platform_setting"
    # A template's quick-reply button whose payload or text is an opt-out word.
    QUICK_REPLY = "quick_reply"
    # A whole typed message that is an opt-out word.
    TYPED_WORD = "typed_word"


class ConsentAction(StrEnum):
    """What a consent event records: the person said yes, or took it back."""

    GRANT = "grant"
    REVOKE = "revoke"


class ConsentPurpose(StrEnum):
    """What the person agreed (or stopped agreeing) to be sent."""

    MARKETING = "marketing"  # follow-ups the business starts
    UTILITY = "utility"  # updates about something the person asked for


class ConsentChannel(StrEnum):
    """Where the consent applies."""

    WHATSAPP = "whatsapp"


class ConsentMethod(StrEnum):
    """How the person said it."""

    WEB_FORM = "web_form"
    CHECKBOX = "checkbox"
    KEYWORD_REPLY = "keyword_reply"  # a message that is a workspace's opt-in or opt-out word
    VERBAL = "verbal"
    IMPORT = "import"  # brought in from the business's own records


# Whole inbound messages that record a marketing consent grant, unless a workspace
# lists its own: none by default (a "yes" to some other question is no consent).
DEFAULT_OPT_IN_WORDS: tuple[str, ...] = ()


class ChangeActorKind(StrEnum):
    """Who made a change recorded in the change log."""

    OPERATOR = "OPERATOR"  # an operator in the admin
    API_TOKEN = "API_TOKEN"  # a workspace's API token
    WEBHOOK = "WEBHOOK"  # a messaging platform's webhook
    DATABASE = "DATABASE"  # a database user writing directly (psql, commands)


class ChangeOperation(StrEnum):
    """What a change did to its row."""

    CREATE = "CREATE"
    EDIT = "EDIT"
    DELETE = "DELETE"


class TokenScope(StrEnum):
    """What an API token may do; each API route needs exactly one of these
    (app/api/auth.py). A token without scopes (NULL) may do everything."""

    READ = "read"  # GETs, and what only computes (simulate)
    WRITE = "write"  # leads, strategies, consent, attestations
    SEND = "send"  # send permits, threads and messages, follow-up claims and dispatch
    ADMIN = "admin"  # workspace settings and send policy
