"""Recipient-local time: the engine's new reasons, and holidays in the policy version.

Forwards, and backwards in reverse:

- ``policy_decision_engine_reason_valid`` admits ZONE_UNRESOLVED, NO_SEND_WINDOW
  and PUBLIC_HOLIDAY (Piccolo does not see a changed CHECK condition, so it is
  dropped and added here). Going back refuses while decisions with those reasons
  exist: they are audit rows and are never rewritten.
- ``masterplan_raise_policy_version()`` also raises the policy version when the
  workspace's holiday calendars or its lead-country switch change.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-01T12:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Recipient-local time: new reason codes; holidays raise the policy version"

REASONS_BEFORE = [
    "LEAD_SUPPRESSED",
    "LEAD_DISCONNECTED",
    "HUMAN_TAKEOVER",
    "ATTESTATION_MISSING",
    "REPLY_WINDOW_CLOSED",
    "LEAD_CLOSED",
    "NO_ACTIVE_STRATEGY",
    "BUDGET_RED",
    "STOP_UNANSWERED",
    "OUTBOUND_CAP_24H",
    "BLOCKED_DATE",
    "SUNDAY_HOLD",
    "QUIET_HOURS",
    "POLICY_PASSED",
]
REASONS_AFTER = [
    *REASONS_BEFORE[: REASONS_BEFORE.index("OUTBOUND_CAP_24H")],
    "ZONE_UNRESOLVED",
    "NO_SEND_WINDOW",
    "OUTBOUND_CAP_24H",
    "BLOCKED_DATE",
    "PUBLIC_HOLIDAY",
    *REASONS_BEFORE[REASONS_BEFORE.index("SUNDAY_HOLD") :],
]


def reason_check(reasons: list[str]) -> str:
    listed = ", ".join(f"'{reason}'" for reason in reasons)
    return (
        "ALTER TABLE policy_decision ADD CONSTRAINT policy_decision_engine_reason_valid "
        f"CHECK (kind IS NULL OR reason_code IN ({listed}))"
    )


DROP_REASON_CHECK = (
    "ALTER TABLE policy_decision DROP CONSTRAINT policy_decision_engine_reason_valid"
)


def raise_policy_version(columns: list[str]) -> str:
    new = ", ".join(f"NEW.{column}" for column in columns)
    old = ", ".join(f"OLD.{column}" for column in columns)
    return f"""
CREATE OR REPLACE FUNCTION masterplan_raise_policy_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF ({new}) IS DISTINCT FROM ({old}) THEN
        NEW.policy_version := OLD.policy_version + 1;
    ELSE
        NEW.policy_version := OLD.policy_version;
    END IF;
    RETURN NEW;
END
$$
"""


POLICY_BEFORE = ["send_window_start", "send_window_end", "send_days", "blocked_dates"]
POLICY_AFTER = [*POLICY_BEFORE, "holiday_calendars", "lead_country_holidays"]

STEPS: list[Step] = [
    (DROP_REASON_CHECK, reason_check(REASONS_BEFORE)),
    (reason_check(REASONS_AFTER), DROP_REASON_CHECK),
    (raise_policy_version(POLICY_AFTER), raise_policy_version(POLICY_BEFORE)),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
