"""The channel's own limits: rules the auto migration cannot state.

Forwards, and backwards in reverse:

- ``policy_decision_engine_reason_valid`` admits LEAD_UNREACHABLE,
  CHANNEL_RESTRICTED, USER_MARKETING_LIMIT and MESSAGING_LIMIT. Going back refuses
  while decisions with them exist: they are audit rows and are never rewritten;
- ``masterplan_raise_policy_version()`` also raises the policy version when the
  workspace's ``messaging_tier`` changes;
- every workspace, existing ones included, starts at WhatsApp's first tier (250
  people a day), as the platform starts every business portfolio: an operator sets
  the tier WhatsApp Manager shows (the auto migration's column default does this);
- ``channel_restriction``: one restriction per prefix and category when it names no
  country (a unique index: NULLs are distinct to the UNIQUE constraint), recorded in
  the change log, and the platform's pause of marketing templates to US numbers
  (``+1`` with a US area code) from 2025-04-01;
- an index of a workspace's template follow-up permits by time: the messaging limit
  counts the people given one in the last 24 hours.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.masterplan.masterplan_2026_12_01t12_01_00_000000 import (
    DROP_REASON_CHECK,
    raise_policy_version,
    reason_check,
)
from piccolo_migrations.masterplan.masterplan_2026_12_01t21_01_00_000000 import (
    POLICY_WITH_CONSENT,
    REASONS_WITH_CONSENT,
)
from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T00:56:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Channel limits: reason codes, policy version, restrictions, template permit index"


def _after(reasons: list[str], anchor: str, *added: str) -> list[str]:
    at = reasons.index(anchor) + 1
    return [*reasons[:at], *added, *reasons[at:]]


REASONS_BEFORE = REASONS_WITH_CONSENT
REASONS_WITH_CHANNEL = _after(
    _after(
        _after(
            _after(REASONS_BEFORE, "CONSENT_MISSING", "LEAD_UNREACHABLE"),
            "STOP_UNANSWERED",
            "CHANNEL_RESTRICTED",
        ),
        "OUTBOUND_CAP_24H",
        "USER_MARKETING_LIMIT",
    ),
    "USER_MARKETING_LIMIT",
    "MESSAGING_LIMIT",
)
POLICY_WITH_TIER = [*POLICY_WITH_CONSENT, "messaging_tier"]

US_MARKETING_PAUSE = """
INSERT INTO channel_restriction (number_prefix, region, template_category, since, description,
                                 source)
VALUES ('+1', 'US', 'MARKETING', '2025-04-01',
        'WhatsApp does not deliver marketing template messages to US phone numbers '
        '(+1 dialing code and a US area code) since 2025-04-01; utility and '
        'authentication templates and replies in the customer service window still are',
        'https://developers.facebook.com/docs/whatsapp/pricing/')
"""

STEPS: list[Step] = [
    (DROP_REASON_CHECK, reason_check(REASONS_BEFORE)),
    (reason_check(REASONS_WITH_CHANNEL), DROP_REASON_CHECK),
    (raise_policy_version(POLICY_WITH_TIER), raise_policy_version(POLICY_WITH_CONSENT)),
    (
        "CREATE UNIQUE INDEX channel_restriction_once_any_region "
        "ON channel_restriction (number_prefix, template_category) WHERE region IS NULL",
        "DROP INDEX channel_restriction_once_any_region",
    ),
    (
        "CREATE TRIGGER channel_restriction_record_change "
        "AFTER INSERT OR UPDATE OR DELETE ON channel_restriction FOR EACH ROW "
        "EXECUTE FUNCTION masterplan_record_change('values', '', '')",
        "DROP TRIGGER channel_restriction_record_change ON channel_restriction",
    ),
    (
        US_MARKETING_PAUSE,
        "DELETE FROM channel_restriction WHERE number_prefix = '+1' AND region = 'US' "
        "AND template_category = 'MARKETING'",
    ),
    (
        "CREATE INDEX policy_decision_template_permits ON policy_decision "
        "(workspace_id, created_at) "
        "WHERE allow_send AND kind = 'followup' AND message_format = 'template'",
        "DROP INDEX policy_decision_template_permits",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
