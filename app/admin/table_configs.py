"""Table configurations of the domain tables: columns, filters, hooks, read-only history."""

from piccolo.apps.user.tables import BaseUser
from piccolo_admin.endpoints import TableConfig, superuser_validators
from piccolo_api.crud.endpoints import OrderBy
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators

from app.admin.hooks import (
    LEAD_RULES,
    STRATEGY_RULES,
    WORKSPACE_RULES,
    counted_by_login,
    edits_use_patch,
    lead_external_id_patch,
    lead_stage_patch,
    new_lead_external_id,
    new_lead_stage,
    new_strategy_is_draft,
    new_workspace_policy,
    new_workspace_words,
    patch_hook,
    save_hook,
    strategy_patch,
    validators,
    workspace_policy_patch,
    workspace_words_patch,
)
from app.admin.menu import (
    AUDIT_GROUP,
    CHANNEL_GROUP,
    LEADS_GROUP,
    OPERATORS_GROUP,
    STRATEGY_GROUP,
)
from app.tables import (
    ApiToken,
    ChangeLog,
    ChannelRestriction,
    ChatMessage,
    ConversationThread,
    Lead,
    LoginThrottle,
    MarketingPreferenceEvent,
    OutreachAttestation,
    PolicyDecision,
    StrategyVersion,
    WebhookInbox,
    WhatsAppNumber,
    Workspace,
)

TABLES = [
    TableConfig(
        Workspace,
        visible_columns=[
            Workspace.name,
            Workspace.timezone,
            Workspace.budget_tier,
            Workspace.messaging_tier,
            Workspace.created_at,
        ],
        visible_filters=[
            Workspace.name,
            Workspace.budget_tier,
            Workspace.messaging_tier,
            Workspace.timezone,
            Workspace.consent_required,
        ],
        link_column=Workspace.name,
        order_by=[OrderBy(Workspace.name)],
        menu_group=STRATEGY_GROUP,
        # Hooks of one type must be adjacent: piccolo-api groups them with
        # itertools.groupby and keeps only the last run of each type.
        hooks=[
            save_hook(WORKSPACE_RULES),
            Hook(hook_type=HookType.pre_save, callable=new_workspace_policy),
            Hook(hook_type=HookType.pre_save, callable=new_workspace_words),
            patch_hook(WORKSPACE_RULES),
            Hook(hook_type=HookType.pre_patch, callable=workspace_policy_patch),
            Hook(hook_type=HookType.pre_patch, callable=workspace_words_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        WhatsAppNumber,
        visible_columns=[
            WhatsAppNumber.display_phone_number,
            WhatsAppNumber.phone_number_id,
            WhatsAppNumber.workspace_id,
            WhatsAppNumber.created_at,
        ],
        visible_filters=[WhatsAppNumber.workspace_id, WhatsAppNumber.phone_number_id],
        link_column=WhatsAppNumber.display_phone_number,
        order_by=[OrderBy(WhatsAppNumber.workspace_id)],
        menu_group=STRATEGY_GROUP,
        validators=validators(),
    ),
    TableConfig(
        ChannelRestriction,
        visible_columns=[
            ChannelRestriction.number_prefix,
            ChannelRestriction.region,
            ChannelRestriction.template_category,
            ChannelRestriction.since,
            ChannelRestriction.description,
            ChannelRestriction.source,
        ],
        visible_filters=[
            ChannelRestriction.number_prefix,
            ChannelRestriction.region,
            ChannelRestriction.template_category,
        ],
        link_column=ChannelRestriction.number_prefix,
        order_by=[OrderBy(ChannelRestriction.number_prefix), OrderBy(ChannelRestriction.id)],
        menu_group=CHANNEL_GROUP,
        # The platform's rules bind every workspace: operators read them, a superuser
        # adds one (the CHECKs refuse a malformed row) when the platform announces it.
        validators=Validators(every=[superuser_validators], put_single=[edits_use_patch]),
    ),
    TableConfig(
        StrategyVersion,
        visible_columns=[
            StrategyVersion.version_number,
            StrategyVersion.workspace_id,
            StrategyVersion.status,
            StrategyVersion.followup_preset,
            StrategyVersion.activated_at,
            StrategyVersion.created_at,
        ],
        visible_filters=[
            StrategyVersion.workspace_id,
            StrategyVersion.status,
            StrategyVersion.followup_preset,
            StrategyVersion.activated_at,
        ],
        link_column=StrategyVersion.version_number,
        order_by=[
            OrderBy(StrategyVersion.workspace_id),
            OrderBy(StrategyVersion.version_number, ascending=False),
        ],
        menu_group=STRATEGY_GROUP,
        hooks=[
            Hook(hook_type=HookType.pre_save, callable=new_strategy_is_draft),
            save_hook(STRATEGY_RULES),
            patch_hook(STRATEGY_RULES),
            Hook(hook_type=HookType.pre_patch, callable=strategy_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        Lead,
        visible_columns=[
            Lead.external_id,
            Lead.name,
            Lead.workspace_id,
            Lead.stage,
            Lead.tags,
            Lead.next_followup_at,
            Lead.last_followup_at,
        ],
        visible_filters=[
            Lead.workspace_id,
            Lead.external_id,
            Lead.platform_user_id,
            Lead.name,
            Lead.stage,
            Lead.tags,
            Lead.next_followup_at,
            Lead.last_followup_at,
        ],
        link_column=Lead.external_id,
        order_by=[OrderBy(Lead.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        hooks=[
            save_hook(LEAD_RULES),
            Hook(hook_type=HookType.pre_save, callable=new_lead_external_id),
            Hook(hook_type=HookType.pre_save, callable=new_lead_stage),
            patch_hook(LEAD_RULES),
            Hook(hook_type=HookType.pre_patch, callable=lead_stage_patch),
            Hook(hook_type=HookType.pre_patch, callable=lead_external_id_patch),
        ],
        validators=validators(),
    ),
    TableConfig(
        ConversationThread,
        visible_columns=[
            ConversationThread.id,
            ConversationThread.lead_id,
            ConversationThread.workspace_id,
            ConversationThread.status,
            ConversationThread.created_at,
        ],
        visible_filters=[
            ConversationThread.workspace_id,
            ConversationThread.lead_id,
            ConversationThread.status,
        ],
        order_by=[OrderBy(ConversationThread.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        validators=validators(),
    ),
    TableConfig(
        ChatMessage,
        visible_columns=[
            ChatMessage.id,
            ChatMessage.thread_id,
            ChatMessage.role,
            ChatMessage.content,
            ChatMessage.delivery_status,
            ChatMessage.delivery_error_code,
            ChatMessage.delivery_error_title,
            ChatMessage.created_at,
        ],
        visible_filters=[
            ChatMessage.thread_id,
            ChatMessage.role,
            ChatMessage.delivery_status,
            ChatMessage.delivery_error_code,
            ChatMessage.created_at,
        ],
        order_by=[OrderBy(ChatMessage.created_at, ascending=False)],
        menu_group=LEADS_GROUP,
        validators=validators(
            history="chat messages are conversation history: they cannot be created, "
            "edited or deleted in the admin"
        ),
    ),
    TableConfig(
        PolicyDecision,
        visible_columns=[
            PolicyDecision.id,
            PolicyDecision.workspace_id,
            PolicyDecision.lead_id,
            PolicyDecision.kind,
            PolicyDecision.allow_send,
            PolicyDecision.reason_code,
            PolicyDecision.summary,
            PolicyDecision.next_allowed_at,
            PolicyDecision.created_at,
        ],
        visible_filters=[
            PolicyDecision.workspace_id,
            PolicyDecision.lead_id,
            PolicyDecision.kind,
            PolicyDecision.allow_send,
            PolicyDecision.reason_code,
            PolicyDecision.created_at,
        ],
        order_by=[OrderBy(PolicyDecision.created_at, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="policy decisions are an append-only audit trail: they cannot be "
            "created, edited or deleted in the admin"
        ),
    ),
    TableConfig(
        OutreachAttestation,
        visible_columns=[
            OutreachAttestation.id,
            OutreachAttestation.workspace_id,
            OutreachAttestation.operator_id,
            OutreachAttestation.granted,
            OutreachAttestation.timestamp,
        ],
        visible_filters=[
            OutreachAttestation.workspace_id,
            OutreachAttestation.operator_id,
            OutreachAttestation.granted,
            OutreachAttestation.timestamp,
        ],
        order_by=[OrderBy(OutreachAttestation.timestamp, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="outreach attestations are an append-only audit trail: record a new "
            "one with the 'Record outreach attestation' action"
        ),
    ),
    TableConfig(
        MarketingPreferenceEvent,
        visible_columns=[
            MarketingPreferenceEvent.id,
            MarketingPreferenceEvent.workspace_id,
            MarketingPreferenceEvent.lead_id,
            MarketingPreferenceEvent.preference,
            MarketingPreferenceEvent.source,
            MarketingPreferenceEvent.occurred_at,
        ],
        visible_filters=[
            MarketingPreferenceEvent.workspace_id,
            MarketingPreferenceEvent.lead_id,
            MarketingPreferenceEvent.preference,
            MarketingPreferenceEvent.source,
            MarketingPreferenceEvent.occurred_at,
        ],
        order_by=[OrderBy(MarketingPreferenceEvent.occurred_at, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="marketing preferences are what leads said, as it reached us: an "
            "append-only record"
        ),
    ),
    TableConfig(
        WebhookInbox,
        visible_columns=[
            WebhookInbox.id,
            WebhookInbox.received_at,
            WebhookInbox.field,
            WebhookInbox.phone_number_id,
            WebhookInbox.workspace_id,
            WebhookInbox.reason,
            WebhookInbox.processed_at,
            WebhookInbox.outcome,
        ],
        visible_filters=[
            WebhookInbox.workspace_id,
            WebhookInbox.field,
            WebhookInbox.phone_number_id,
            WebhookInbox.processed_at,
            WebhookInbox.received_at,
        ],
        order_by=[OrderBy(WebhookInbox.id, ascending=False)],
        menu_group=LEADS_GROUP,
        validators=validators(
            history="the webhook inbox keeps what the platform sent: act on it again with "
            "the 'Reprocess webhook inbox' action or 'piccolo masterplan reprocess_webhook_inbox'"
        ),
    ),
    TableConfig(
        ApiToken,
        visible_columns=[
            ApiToken.id,
            ApiToken.workspace_id,
            ApiToken.name,
            ApiToken.scopes,
            ApiToken.expires_at,
            ApiToken.last_used_at,
            ApiToken.created_at,
            ApiToken.revoked_at,
        ],
        visible_filters=[
            ApiToken.workspace_id,
            ApiToken.name,
            ApiToken.expires_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        ],
        order_by=[OrderBy(ApiToken.id, ascending=False)],
        menu_group=OPERATORS_GROUP,
        validators=validators(
            history="API tokens are issued and revoked with the 'Create API token' and "
            "'Revoke API token' actions, or 'piccolo masterplan create-token' and 'revoke-token'"
        ),
    ),
    TableConfig(
        ChangeLog,
        visible_columns=[
            ChangeLog.created_at,
            ChangeLog.actor_kind,
            ChangeLog.actor,
            ChangeLog.action,
            ChangeLog.operation,
            ChangeLog.table_name,
            ChangeLog.row_id,
            ChangeLog.changes,
        ],
        visible_filters=[
            ChangeLog.table_name,
            ChangeLog.row_id,
            ChangeLog.actor,
            ChangeLog.actor_kind,
            ChangeLog.operation,
            ChangeLog.workspace_id,
            ChangeLog.lead_id,
            ChangeLog.created_at,
        ],
        order_by=[OrderBy(ChangeLog.created_at, ascending=False)],
        menu_group=AUDIT_GROUP,
        validators=validators(
            history="the change log is written by the database as rows change: it cannot be "
            "created, edited or deleted"
        ),
    ),
    TableConfig(
        LoginThrottle,
        visible_columns=[
            LoginThrottle.address,
            LoginThrottle.failures,
            LoginThrottle.window_started,
        ],
        visible_filters=[LoginThrottle.address],
        order_by=[OrderBy(LoginThrottle.window_started, ascending=False)],
        menu_group=OPERATORS_GROUP,
        validators=counted_by_login(
            "failed logins are counted by the login form; delete an address's row to let "
            "it log in again at once"
        ),
    ),
    TableConfig(
        BaseUser,
        visible_columns=[
            BaseUser.username,
            BaseUser.email,
            BaseUser.active,
            BaseUser.admin,
            BaseUser.superuser,
            BaseUser.last_login,
        ],
        visible_filters=[BaseUser.username, BaseUser.active, BaseUser.admin],
        link_column=BaseUser.username,
        menu_group=OPERATORS_GROUP,
    ),
]
