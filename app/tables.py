"""The domain's tables, one tenant (workspace) at the root: the M1 specification's
seven (workspace, strategy_version, lead, conversation_thread, chat_message,
policy_decision, outreach_attestation) and those added since (api_token,
whatsapp_number, change_log, login_throttle, marketing_preference_event,
webhook_inbox, consent_wording, consent_event, channel_restriction); ``TABLES`` lists
them all.

Rules that Piccolo can express (NOT NULL, defaults, foreign keys, UNIQUE,
CHECK) live here and are picked up by auto migrations. Rules it cannot express
(partial unique indexes, composite tenant foreign keys, triggers, composite
indexes) live in the hand-written migrations beside them (piccolo_migrations/).
"""

import json
from datetime import time
from enum import StrEnum

from piccolo.columns import (
    JSONB,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    OnUpdate,
    Text,
    Time,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.time import TimeCustom
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.columns.readable import Readable
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from app.enums import (
    DEFAULT_OPT_IN_WORDS,
    DEFAULT_OPT_OUT_WORDS,
    FLOOR_SEND_DAYS,
    FLOOR_SEND_WINDOW,
    BudgetTier,
    ChangeActorKind,
    ChangeOperation,
    ChatRole,
    ConsentAction,
    ConsentChannel,
    ConsentMethod,
    ConsentPurpose,
    DeliveryStatus,
    FollowUpPreset,
    LeadStage,
    LeadTag,
    MarketingPreference,
    MessageFormat,
    MessagingTier,
    PreferenceSource,
    ReasonCode,
    SendKind,
    StrategyStatus,
    TemplateCategory,
    TokenScope,
)


def enum_values_sql(enum: type[StrEnum], exclude: list[StrEnum] | None = None) -> str:
    """The enum's values as a SQL list literal: ``'A', 'B'``."""
    return ", ".join(f"'{member.value}'" for member in enum if member not in (exclude or []))


def one_of(column: str, enum: type[StrEnum]) -> Check:
    """CHECK that ``column`` holds one of ``enum``'s values."""
    return Check(f"{column} IN ({enum_values_sql(enum)})")


def json_array_of(column: str, values: type[StrEnum] | tuple[StrEnum, ...]) -> Check:
    """CHECK that ``column`` is a JSON array whose elements are among ``values``."""
    allowed = json.dumps([member.value for member in values])
    return Check(f"jsonb_typeof({column}) = 'array' AND {column} <@ '{allowed}'::jsonb")


def json_of_type(column: str, json_type: str, *, nullable: bool) -> Check:
    """CHECK that ``column`` holds a JSON value of ``json_type`` (or SQL NULL)."""
    condition = f"jsonb_typeof({column}) = '{json_type}'"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return Check(condition)


def not_blank(column: str) -> Check:
    """CHECK that a text column holds more than white space."""
    return Check(f"btrim({column}) <> ''")


WINDOW_OPENS, WINDOW_CLOSES = (time.fromisoformat(edge) for edge in FLOOR_SEND_WINDOW)

# A workspace names at most this many public holiday calendars.
MAX_HOLIDAY_CALENDARS = 20

# Row ids are PostgreSQL integers (Serial): nothing larger names a row.
MAX_ID = 2**31 - 1

# Audit rows are never removed or rewritten through their owners.
KEEP_AUDIT_ROWS = {"on_delete": OnDelete.restrict, "on_update": OnUpdate.restrict}


class Workspace(Table, tablename="workspace"):
    """A tenant: one small business and everything it owns."""

    name = Varchar(length=255, default=None)
    timezone = Varchar(length=64, default="UTC")
    budget_tier = Varchar(length=16, choices=BudgetTier, default=BudgetTier.GREEN)
    created_at = Timestamptz(default=TimestamptzNow())
    # The workspace's send policy: it may only narrow the floor (app/enums.py).
    send_window_start = Time(default=TimeCustom(hour=WINDOW_OPENS.hour, minute=0, second=0))
    send_window_end = Time(default=TimeCustom(hour=WINDOW_CLOSES.hour, minute=0, second=0))
    send_days = JSONB(default=[day.value for day in FLOOR_SEND_DAYS])
    blocked_dates = JSONB(default=[])
    # Raised by the database whenever the send policy changes; decisions record it.
    policy_version = Integer(default=1)
    # A lead's whole message equal to one of these (any case) opts the lead out.
    opt_out_words = JSONB(default=list(DEFAULT_OPT_OUT_WORDS))
    # Public holidays on which no follow-up goes out (app/policy/public_holidays.py):
    # named calendars ("MY", "GB-SCT"), and the calendar of each lead's own country.
    holiday_calendars = JSONB(default=[])
    lead_country_holidays = Boolean(default=False)
    # Follow-ups need the lead's recorded marketing consent (rule CONSENT_MISSING).
    # On for new workspaces; workspaces that existed before the consent ledger keep
    # it off until an operator turns it on (their leads have no events yet).
    consent_required = Boolean(default=True)
    # A lead's whole message equal to one of these (any case) records a marketing
    # consent grant against the workspace's latest WhatsApp wording.
    opt_in_words = JSONB(default=list(DEFAULT_OPT_IN_WORDS))
    # WhatsApp's messaging limit of the business portfolio the workspace's numbers
    # belong to (rule MESSAGING_LIMIT). The platform starts every portfolio at 250;
    # an operator sets the tier WhatsApp Manager shows.
    messaging_tier = Varchar(length=16, choices=MessagingTier, default=MessagingTier.TIER_250)

    workspace_name_not_blank = not_blank("name")
    workspace_timezone_not_blank = not_blank("timezone")
    workspace_budget_tier_valid = one_of("budget_tier", BudgetTier)
    workspace_messaging_tier_valid = one_of("messaging_tier", MessagingTier)
    workspace_send_window_within_floor = Check(
        f"send_window_start >= '{FLOOR_SEND_WINDOW[0]}' "
        f"AND send_window_end <= '{FLOOR_SEND_WINDOW[1]}' "
        "AND send_window_start < send_window_end "
        "AND date_trunc('minute', send_window_start) = send_window_start "
        "AND date_trunc('minute', send_window_end) = send_window_end"
    )
    workspace_send_days_valid = json_array_of("send_days", FLOOR_SEND_DAYS)
    workspace_send_days_not_empty = Check("jsonb_array_length(send_days) >= 1")
    workspace_opt_out_words_array = json_of_type("opt_out_words", "array", nullable=False)
    workspace_opt_in_words_array = json_of_type("opt_in_words", "array", nullable=False)
    workspace_holiday_calendars_codes = Check(
        "jsonb_typeof(holiday_calendars) = 'array' "
        f"AND jsonb_array_length(holiday_calendars) <= {MAX_HOLIDAY_CALENDARS} "
        "AND NOT jsonb_path_exists(holiday_calendars, "
        '\'$[*] ? (@.type() != "string" || !(@ like_regex "^[A-Z][A-Z][A-Z]?(-[A-Z0-9]+)?$"))\')'
    )

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s (#%s)", columns=[cls.name, cls.id])


class StrategyVersion(Table, tablename="strategy_version"):
    """One numbered version of a workspace's outreach strategy."""

    workspace_id = ForeignKey(Workspace, null=False, on_delete=OnDelete.cascade)
    version_number = Integer(default=None)
    status = Varchar(length=16, choices=StrategyStatus, default=StrategyStatus.DRAFT)
    tone = Text()
    objectives = Text()
    objection_handling = Text()
    cta_rules = Text()
    followup_preset = Varchar(length=16, choices=FollowUpPreset, default=None)
    interval_overrides = JSONB(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    activated_at = Timestamptz(null=True, default=None)
    # The version that was ACTIVE when this one was activated: where a rollback
    # returns to. Kept within the workspace by a composite foreign key.
    previous_active_version_id = ForeignKey(
        "self", null=True, default=None, on_delete=OnDelete.set_null
    )

    strategy_version_workspace_version_key = Unique(["workspace_id", "version_number"])
    strategy_version_number_positive = Check("version_number >= 1")
    strategy_version_status_valid = one_of("status", StrategyStatus)
    strategy_version_followup_preset_valid = one_of("followup_preset", FollowUpPreset)
    strategy_version_active_has_activated_at = Check(
        f"status <> '{StrategyStatus.ACTIVE.value}' OR activated_at IS NOT NULL"
    )
    strategy_version_interval_overrides_object = json_of_type(
        "interval_overrides", "object", nullable=True
    )
    # Target of the composite foreign key on (workspace_id, previous_active_version_id).
    strategy_version_workspace_id_id_key = Unique(["workspace_id", "id"])

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="v%s of %s", columns=[cls.version_number, cls.workspace_id.name])


class Lead(Table, tablename="lead"):
    """A person a workspace reaches out to, keyed by e.g. a WhatsApp id."""

    workspace_id = ForeignKey(Workspace, null=False, on_delete=OnDelete.cascade)
    external_id = Varchar(length=255, default=None, index=True)
    name = Varchar(length=255, null=True, default=None)
    stage = Varchar(length=32, choices=LeadStage, default=LeadStage.NEW)
    tags = JSONB(default=[], index=True, index_method=IndexMethod.gin)
    timezone = Varchar(length=64, null=True, default=None)
    last_followup_at = Timestamptz(null=True, default=None)
    next_followup_at = Timestamptz(null=True, default=None)
    last_followup_review_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    # Set while a human has taken the lead over: the stage a release returns to.
    stage_before_takeover = Varchar(length=32, null=True, default=None, choices=LeadStage)
    # A worker that claimed the lead's due follow-up holds it until then.
    followup_lease_until = Timestamptz(null=True, default=None)
    # When the lead last wrote to us (its newest `user` message); kept by the database.
    last_inbound_at = Timestamptz(null=True, default=None)
    # The messaging platform's id of the person (WhatsApp's business-scoped user id),
    # which stays when a phone number is withheld (usernames) or changes. A lead first
    # known only by it has it as its external_id too, until a number comes with it.
    platform_user_id = Varchar(length=255, null=True, default=None)
    # Since when the lead has stopped marketing messages on the platform (WhatsApp's
    # user_preferences); NULL after a resume. Kept by the database from
    # marketing_preference_event: follow-ups are held while it is set.
    marketing_stopped_at = Timestamptz(null=True, default=None)
    # Since when WhatsApp reports the lead undeliverable (error 131026: not on
    # WhatsApp, or it blocked the business): follow-ups are held until it writes again.
    unreachable_since = Timestamptz(null=True, default=None)
    # WhatsApp refused a marketing message to the lead under its per-user marketing
    # limit (error 131049): no follow-up before this instant (the failure + 24 h).
    marketing_limited_until = Timestamptz(null=True, default=None)

    lead_workspace_external_id_key = Unique(["workspace_id", "external_id"])
    lead_workspace_platform_user_id_key = Unique(["workspace_id", "platform_user_id"])
    lead_platform_user_id_not_blank = not_blank("platform_user_id")
    # Target of the composite tenant foreign keys on (workspace_id, lead_id).
    lead_workspace_id_id_key = Unique(["workspace_id", "id"])
    lead_external_id_not_blank = not_blank("external_id")
    lead_stage_valid = one_of("stage", LeadStage)
    lead_tags_valid = json_array_of("tags", LeadTag)
    lead_stage_before_takeover_valid = Check(
        "stage_before_takeover IS NULL OR stage_before_takeover IN "
        f"({enum_values_sql(LeadStage, exclude=[LeadStage.TAKE_OVER])})"
    )
    lead_takeover_remembers_stage = Check(
        f"(stage = '{LeadStage.TAKE_OVER.value}') = (stage_before_takeover IS NOT NULL)"
    )

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.external_id])


# Lead columns the system keeps (keys, the takeover and lease bookkeeping, what the
# database derives): every other column is a field callers write.
LEAD_KEPT_COLUMNS = frozenset(
    {
        "id",
        "workspace_id",
        "external_id",
        "created_at",
        "stage_before_takeover",
        "followup_lease_until",
        "last_inbound_at",
        "platform_user_id",
        "marketing_stopped_at",
        "unreachable_since",
        "marketing_limited_until",
    }
)


class ConversationThread(Table, tablename="conversation_thread"):
    """A conversation between the outreach engine and one lead."""

    workspace_id = ForeignKey(Workspace, null=False, on_delete=OnDelete.cascade)
    lead_id = ForeignKey(Lead, null=False, on_delete=OnDelete.cascade)
    status = Varchar(length=32, default="active")
    created_at = Timestamptz(default=TimestamptzNow())

    conversation_thread_status_not_blank = not_blank("status")

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="#%s with %s", columns=[cls.id, cls.lead_id.external_id])


class PolicyDecision(Table, tablename="policy_decision"):
    """Audit record of whether the policy allowed a send to a lead, and why."""

    workspace_id = ForeignKey(Workspace, null=False, **KEEP_AUDIT_ROWS)
    lead_id = ForeignKey(Lead, null=False, **KEEP_AUDIT_ROWS)
    allow_send = Boolean(default=None)
    reason_code = Varchar(length=64, default=None)
    rule_trace = JSONB(default={})
    next_allowed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    # Set on every decision the policy engine makes (NULL on rows written before it).
    kind = Varchar(length=16, null=True, default=None, choices=SendKind)
    # How an allowed send may be written: free text or an approved template.
    message_format = Varchar(length=16, null=True, default=None, choices=MessageFormat)
    # The decision in one readable line, for operators.
    summary = Text(default="")

    policy_decision_reason_code_not_blank = not_blank("reason_code")
    policy_decision_rule_trace_object = json_of_type("rule_trace", "object", nullable=False)
    policy_decision_kind_valid = one_of("kind", SendKind)
    policy_decision_message_format_valid = one_of("message_format", MessageFormat)
    policy_decision_engine_reason_valid = Check(
        f"kind IS NULL OR reason_code IN ({enum_values_sql(ReasonCode)})"
    )
    policy_decision_engine_format_when_allowed = Check(
        "kind IS NULL OR (message_format IS NOT NULL) = allow_send"
    )


class ChatMessage(Table, tablename="chat_message"):
    """One message of a conversation thread."""

    thread_id = ForeignKey(ConversationThread, null=False, on_delete=OnDelete.cascade)
    role = Varchar(length=16, choices=ChatRole, default=None)
    content = Text()
    tool_calls = JSONB(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    # The send permit a `model` message was sent under; each permit serves one message.
    permit_id = ForeignKey(PolicyDecision, null=True, default=None, unique=True, **KEEP_AUDIT_ROWS)
    # The messaging platform's id (WhatsApp "wamid..."): a message is stored once.
    platform_message_id = Varchar(length=255, null=True, default=None, unique=True)
    # What the platform sent, as it sent it (inbound), so nothing is lost.
    platform_payload = JSONB(null=True, default=None)
    # The platform's latest report on a message we sent.
    delivery_status = Varchar(length=16, null=True, default=None, choices=DeliveryStatus)
    delivery_status_at = Timestamptz(null=True, default=None)
    # Why the platform could not deliver it (a `failed` report): its error code and title.
    delivery_error_code = Integer(null=True, default=None)
    delivery_error_title = Varchar(length=255, null=True, default=None)

    chat_message_role_valid = one_of("role", ChatRole)
    chat_message_delivery_status_valid = one_of("delivery_status", DeliveryStatus)
    chat_message_platform_payload_object = json_of_type("platform_payload", "object", nullable=True)
    chat_message_tool_calls_array = json_of_type("tool_calls", "array", nullable=True)


class WhatsAppNumber(Table, tablename="whatsapp_number"):
    """A business phone number on WhatsApp and the workspace its messages belong to."""

    workspace_id = ForeignKey(Workspace, null=False, on_delete=OnDelete.cascade)
    phone_number_id = Varchar(length=64, unique=True, default=None)
    display_phone_number = Varchar(length=32, default="")
    created_at = Timestamptz(default=TimestamptzNow())

    whatsapp_number_phone_number_id_not_blank = not_blank("phone_number_id")

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.display_phone_number])


class OutreachAttestation(Table, tablename="outreach_attestation"):
    """Audit record of an operator granting (or withdrawing) outreach consent."""

    workspace_id = ForeignKey(Workspace, null=False, **KEEP_AUDIT_ROWS)
    operator_id = Varchar(length=255, default=None)
    timestamp = Timestamptz(default=TimestamptzNow())
    granted = Boolean(default=True)

    outreach_attestation_operator_id_not_blank = not_blank("operator_id")


class MarketingPreferenceEvent(Table, tablename="marketing_preference_event"):
    """Audit record of a lead stopping or resuming marketing messages, as it reached
    us: the platform's own setting, a quick-reply button or a typed opt-out word.
    The latest platform setting holds or frees the lead's follow-ups
    (``lead.marketing_stopped_at``, kept by the database)."""

    workspace_id = ForeignKey(Workspace, null=False, **KEEP_AUDIT_ROWS)
    lead_id = ForeignKey(Lead, null=False, **KEEP_AUDIT_ROWS)
    preference = Varchar(length=16, choices=MarketingPreference, default=None)
    source = Varchar(length=32, choices=PreferenceSource, default=None)
    # When the lead said it, by the platform's clock.
    occurred_at = Timestamptz(default=None)
    # The message that said it (quick replies and typed words).
    platform_message_id = Varchar(length=255, null=True, default=None)
    # What the platform sent, as it sent it.
    platform_payload = JSONB(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())

    marketing_preference_event_preference_valid = one_of("preference", MarketingPreference)
    marketing_preference_event_source_valid = one_of("source", PreferenceSource)
    marketing_preference_event_payload_object = json_of_type(
        "platform_payload", "object", nullable=True
    )
    # A retried delivery records nothing twice.
    marketing_preference_event_once = Unique(["lead_id", "source", "preference", "occurred_at"])


class ConsentWording(Table, tablename="consent_wording"):
    """A numbered version of the exact words a person is shown when asked to consent,
    naming the business. The database numbers the versions per workspace and computes
    the text's SHA-256; once an event cites a version it never changes."""

    workspace_id = ForeignKey(Workspace, null=False, **KEEP_AUDIT_ROWS)
    # 1, 2, 3 ... per workspace, set by the database.
    version = Integer(default=None, null=True)
    channel = Varchar(length=16, choices=ConsentChannel, default=ConsentChannel.WHATSAPP)
    business_name = Varchar(length=255, default=None)
    text = Text(default=None)
    # Hex SHA-256 of the UTF-8 text, set by the database.
    sha256 = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())

    consent_wording_channel_valid = one_of("channel", ConsentChannel)
    consent_wording_business_name_not_blank = not_blank("business_name")
    consent_wording_text_not_blank = not_blank("text")
    # WhatsApp asks that an opt-in names the business that will send the messages.
    consent_wording_names_business = Check("strpos(lower(text), lower(btrim(business_name))) > 0")
    consent_wording_version_numbered = Check("version >= 1")
    consent_wording_hash_hex = Check("sha256 ~ '^[0-9a-f]{64}$'")
    consent_wording_version_once = Unique(["workspace_id", "version"])

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="v%s %s", columns=[cls.version, cls.business_name])


class ConsentEvent(Table, tablename="consent_event"):
    """Append-only record of a lead granting or revoking consent for a purpose: for a
    grant, the wording shown and how the person said yes; the evidence; when the person
    said it and when it was recorded (database clock), and by whom (the change log's
    actor). A correction is a new event."""

    workspace_id = ForeignKey(Workspace, null=False, **KEEP_AUDIT_ROWS)
    lead_id = ForeignKey(Lead, null=False, **KEEP_AUDIT_ROWS)
    action = Varchar(length=8, choices=ConsentAction, default=None)
    purpose = Varchar(length=16, choices=ConsentPurpose, default=None)
    channel = Varchar(length=16, choices=ConsentChannel, default=ConsentChannel.WHATSAPP)
    wording_id = ForeignKey(ConsentWording, null=True, default=None, **KEEP_AUDIT_ROWS)
    method = Varchar(length=16, choices=ConsentMethod, null=True, default=None)
    # IP, user agent, page URL, a reference to a recording or a screenshot, a message.
    evidence = JSONB(default={})
    # When the person said it.
    captured_at = Timestamptz(default=None)
    # When it was recorded, and by whom: set by the database.
    recorded_at = Timestamptz(default=TimestamptzNow())
    recorded_by_kind = Varchar(length=16, choices=ChangeActorKind, null=True, default=None)
    recorded_by = Varchar(length=255, null=True, default=None)

    consent_event_action_valid = one_of("action", ConsentAction)
    consent_event_purpose_valid = one_of("purpose", ConsentPurpose)
    consent_event_channel_valid = one_of("channel", ConsentChannel)
    consent_event_method_valid = Check(
        f"method IS NULL OR method IN ({enum_values_sql(ConsentMethod)})"
    )
    consent_event_recorded_by_kind_valid = one_of("recorded_by_kind", ChangeActorKind)
    # A grant cites the wording the person was shown and how they said yes; a
    # revocation cites no wording (it ends whatever was granted).
    consent_event_grant_proven = Check(
        "action <> 'grant' OR (wording_id IS NOT NULL AND method IS NOT NULL)"
    )
    consent_event_revoke_without_wording = Check("action <> 'revoke' OR wording_id IS NULL")
    consent_event_evidence_object = json_of_type("evidence", "object", nullable=False)
    # Said at most a few minutes ahead of the database clock (clock skew), never later.
    consent_event_captured_not_future = Check("captured_at <= recorded_at + interval '5 minutes'")


class WebhookInbox(Table, tablename="webhook_inbox"):
    """A signed webhook item the code could not act on: kept as received, with the
    reason, for an operator and for ``piccolo masterplan reprocess_webhook_inbox``."""

    id = BigSerial(primary_key=True)
    received_at = Timestamptz(default=TimestamptzNow())
    # The webhook field ("messages", "account_update"); NULL when the body is unreadable.
    field = Varchar(length=64, null=True, default=None)
    phone_number_id = Varchar(length=64, null=True, default=None)
    # The workspace the item's number belongs to, when it is known.
    workspace_id = ForeignKey(Workspace, null=True, default=None, on_delete=OnDelete.set_null)
    reason = Text(default="")
    # The item as a whole webhook body (one entry, one change, one item), or the raw body.
    body = Text(default="")
    # SHA-256 of ``body``: a retried delivery keeps nothing twice.
    digest = Varchar(length=64, unique=True, default=None)
    # When a reprocessing acted on it, and what it did.
    processed_at = Timestamptz(null=True, default=None)
    outcome = Text(default="")
    attempts = Integer(default=0)

    webhook_inbox_digest_is_sha256 = Check("digest ~ '^[0-9a-f]{64}$'")
    webhook_inbox_reason_not_blank = not_blank("reason")
    webhook_inbox_attempts_not_negative = Check("attempts >= 0")


class ChannelRestriction(Table, tablename="channel_restriction"):
    """A rule of the messaging platform about where templates are delivered: templates
    of a category to numbers under a prefix are not delivered from a date on (rule
    CHANNEL_RESTRICTED). The platform's, not a workspace's: one row per restriction."""

    # E.164 prefix: "+1" covers every number of country code 1 (US, Canada, ...).
    number_prefix = Varchar(length=16, default=None)
    # Only numbers of this country (ISO 3166 code, as libphonenumber places the number)
    # when the prefix is shared: "+1" and "US" is the US, not Canada. NULL: all.
    region = Varchar(length=2, null=True, default=None)
    template_category = Varchar(
        length=16, choices=TemplateCategory, default=TemplateCategory.MARKETING
    )
    # Templates sent from this day (UTC) on are not delivered.
    since = Date(default=None)
    description = Text(default="")
    # Where the platform says so.
    source = Varchar(length=500, default="")

    channel_restriction_prefix_e164 = Check("number_prefix ~ '^[+][1-9][0-9]{0,14}$'")
    channel_restriction_region_code = Check("region IS NULL OR region ~ '^[A-Z]{2}$'")
    channel_restriction_category_valid = one_of("template_category", TemplateCategory)
    channel_restriction_description_not_blank = not_blank("description")
    channel_restriction_once = Unique(["number_prefix", "region", "template_category"])

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(
            template="%s %s templates", columns=[cls.number_prefix, cls.template_category]
        )


class ApiToken(Table, tablename="api_token"):
    """A workspace's API credential; only its SHA-256 is stored."""

    workspace_id = ForeignKey(Workspace, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100, default="")
    token_hash = Varchar(length=64, unique=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)
    # Past it the token gets 401; NULL: it never expires.
    expires_at = Timestamptz(null=True, default=None)
    # What the token may do; NULL: everything (tokens issued before scopes existed).
    scopes = Array(Varchar(length=16), choices=TokenScope, null=True, default=None)
    # Kept to the minute at most, not written per request (app/tokens.py).
    last_used_at = Timestamptz(null=True, default=None)

    api_token_hash_is_sha256 = Check("token_hash ~ '^[0-9a-f]{64}$'")
    api_token_scopes_known = Check(
        "scopes IS NULL OR (cardinality(scopes) > 0 AND array_position(scopes, NULL) IS NULL "
        f"AND scopes <@ ARRAY[{enum_values_sql(TokenScope)}]::varchar[])"
    )
    api_token_expires_after_creation = Check("expires_at IS NULL OR expires_at > created_at")


class ChangeLog(Table, tablename="change_log"):
    """Who changed what: one row per created, edited or deleted row, written by the
    database (trigger ``masterplan_record_change``) in the writer's transaction.

    The writer names itself with transaction-local settings (app/change_log.py);
    a write without them is recorded as the database user that made it.
    """

    id = BigSerial(primary_key=True)
    created_at = Timestamptz(default=TimestamptzNow())
    actor_kind = Varchar(length=16, choices=ChangeActorKind, default=ChangeActorKind.DATABASE)
    actor = Varchar(length=255, default=None)
    # The operator's user id or the API token's id.
    actor_id = Integer(null=True, default=None)
    # What the actor did, in words: "admin edit", "Suppress lead", "PATCH /api/v1/leads/{lead_id}".
    action = Varchar(length=255, default=None)
    operation = Varchar(length=8, choices=ChangeOperation, default=None)
    table_name = Varchar(length=64, default=None)
    row_id = BigInt(null=True, default=None)
    # Kept without foreign keys: the log outlives the rows it describes.
    workspace_id = Integer(null=True, default=None)
    lead_id = Integer(null=True, default=None)
    # {"column": {"old": ..., "new": ...}}; NULL for rows that are their own record.
    changes = JSONB(null=True, default=None)
    # The X-Request-ID of the request that made the change (app/request_ids.py);
    # NULL for a change made outside a request.
    request_id = Varchar(length=128, null=True, default=None)

    change_log_actor_kind_valid = one_of("actor_kind", ChangeActorKind)
    change_log_operation_valid = one_of("operation", ChangeOperation)
    change_log_changes_object = json_of_type("changes", "object", nullable=True)


class LoginThrottle(Table, tablename="login_throttle"):
    """Failed operator logins per client address in the current window, shared by
    every server process (app/admin/login_throttle.py)."""

    address = Varchar(length=64, primary_key=True)
    window_started = Timestamptz(default=TimestamptzNow())
    failures = Integer(default=0)

    login_throttle_failures_not_negative = Check("failures >= 0")
    login_throttle_address_not_blank = not_blank("address")


TABLES: list[type[Table]] = [
    Workspace,
    StrategyVersion,
    Lead,
    ConversationThread,
    ChatMessage,
    PolicyDecision,
    OutreachAttestation,
    ApiToken,
    WhatsAppNumber,
    ChangeLog,
    LoginThrottle,
    MarketingPreferenceEvent,
    WebhookInbox,
    ConsentWording,
    ConsentEvent,
    ChannelRestriction,
]
