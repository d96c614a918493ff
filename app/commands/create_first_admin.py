"""``piccolo masterplan create_first_admin``."""

import secrets

from piccolo.apps.user.tables import BaseUser

from app.db.executor import fetch, transaction
from app.settings import ConfigurationError, settings

FIRST_ADMIN_LOCK = "SELECT pg_advisory_xact_lock(hashtext('masterplan.first_admin'))"


async def create_first_admin() -> None:
    """
    Create the first admin account, unless an admin account exists.

    The username is $ADMIN_USERNAME (default "admin"), the password
    $ADMIN_PASSWORD; without it a password is generated and printed once.
    Safe to run concurrently. More operators: piccolo user create.
    """
    username, given_password = settings().first_admin.username, settings().first_admin.password
    password = given_password or secrets.token_urlsafe(12)
    try:
        BaseUser._validate_password(password)
    except ValueError as error:
        raise ConfigurationError(f"ADMIN_PASSWORD: {error}") from None

    async with transaction():
        # Serialise concurrent runs: only the first creates an account.
        await fetch(FIRST_ADMIN_LOCK)
        if await BaseUser.exists().where(BaseUser.admin.eq(True)):
            print("An admin account exists; nothing changed.")
            return
        if await BaseUser.exists().where(BaseUser.username == username):
            raise ConfigurationError(
                f"a non-admin user named {username!r} exists; set ADMIN_USERNAME to another name"
            )
        await BaseUser.create_user(
            username=username, password=password, admin=True, superuser=True, active=True
        )

    print(f"Created the admin account {username!r}.")
    if not given_password:
        print(f"Its generated password, shown only this once: {password}")
        print(f"Change it with: piccolo user change_password {username}")
