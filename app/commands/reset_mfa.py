"""``piccolo masterplan reset-mfa``: the lost-device path of two-factor sign-in."""

from app.settings import ConfigurationError


async def reset_mfa(username: str) -> None:
    """
    Reset an operator's two-factor sign-in (a lost device, no recovery code left): the
    authenticator and its recovery codes stop working; the operator signs in with the
    password and, where ADMIN_MFA requires it, enrols a new device at once.

    :param username:
        The operator's username.
    """
    # Imported here: the admin's modules take a second to import, which every other
    # command (and every migration run) would pay through piccolo_conf's app registry.
    from app.admin.two_factor import UnknownOperator, reset_two_factor

    try:
        print(await reset_two_factor(username))
    except UnknownOperator as error:
        raise ConfigurationError(str(error)) from None
