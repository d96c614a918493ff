"""Operators' authenticator secrets (piccolo-api's ``mfa_authenticator`` app) under the
database's rules.

Forwards, and backwards in reverse:

- ``authenticator_secret_user_fk``: a secret belongs to an operator account, and goes
  with it when the account is deleted;
- ``authenticator_secret_one_active``: at most one secret in use per operator (two
  enrolments at once cannot both succeed); it also answers "is this operator
  enrolled?" at every admin request;
- ``authenticator_secret_encrypted``: the shared secret is stored encrypted
  (FernetProvider's ``fernet-`` prefix), never as plain text;
- the change log records enrolments, recovery codes used and resets (the secret and
  the hashed recovery codes are not copied; a code's last use is not a change).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from piccolo_migrations.sql_steps import Step, sql_steps_manager

ID = "2026-12-02T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Authenticator secrets: owner, one active per operator, encrypted, change log"

STEPS: list[Step] = [
    (
        "ALTER TABLE authenticator_secret ADD CONSTRAINT authenticator_secret_user_fk "
        "FOREIGN KEY (user_id) REFERENCES piccolo_user (id) ON DELETE CASCADE",
        "ALTER TABLE authenticator_secret DROP CONSTRAINT authenticator_secret_user_fk",
    ),
    (
        "CREATE UNIQUE INDEX authenticator_secret_one_active ON authenticator_secret (user_id) "
        "WHERE revoked_at IS NULL",
        "DROP INDEX authenticator_secret_one_active",
    ),
    (
        "ALTER TABLE authenticator_secret ADD CONSTRAINT authenticator_secret_encrypted "
        "CHECK (secret LIKE 'fernet-%')",
        "ALTER TABLE authenticator_secret DROP CONSTRAINT authenticator_secret_encrypted",
    ),
    (
        "CREATE TRIGGER authenticator_secret_record_change "
        "AFTER INSERT OR UPDATE OR DELETE ON authenticator_secret FOR EACH ROW EXECUTE FUNCTION "
        "masterplan_record_change('values', 'last_used_at,last_used_code', "
        "'secret,recovery_codes')",
        "DROP TRIGGER authenticator_secret_record_change ON authenticator_secret",
    ),
]


async def forwards() -> MigrationManager:
    return sql_steps_manager(ID, "masterplan", DESCRIPTION, STEPS)
