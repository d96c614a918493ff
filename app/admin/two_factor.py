"""Operators' two-factor sign-in: piccolo-admin's own MFA with an authenticator app.

piccolo-admin asks an enrolled operator for a TOTP code (or a recovery code) at
login and serves the enrolment page at ``/admin/api/mfa-setup/``; it does not make
enrolment mandatory. ``EnrolmentRequired`` does: with ADMIN_MFA at
``required-for-superusers`` (or ``required-for-all``), an operator who must enrol
and has not is sent to that page and refused everything else until enrolled.

The shared secrets are stored Fernet-encrypted (piccolo-api's ``FernetProvider``)
with ADMIN_MFA_KEY, or in development with a key generated once into
ADMIN_MFA_KEY_FILE (app/settings.py).
"""

import base64
import logging
import os
from pathlib import Path

import piccolo_api
from cryptography.fernet import InvalidToken
from jinja2 import Environment, FileSystemLoader
from piccolo.apps.user.tables import BaseUser
from piccolo_api.encryption.providers import FernetProvider
from piccolo_api.mfa.authenticator.provider import AuthenticatorProvider
from piccolo_api.mfa.authenticator.tables import AuthenticatorSecret
from piccolo_api.session_auth.tables import SessionsBase
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.admin.login_throttle import route_path
from app.change_log import Actor, name_actor, name_on
from app.db.executor import fetch, transaction
from app.enums import ChangeActorKind
from app.settings import MFA_KEY_BYTES, ConfigurationError, OperatorMFASettings, is_fernet_key

logger = logging.getLogger(__name__)

MFA_SETUP_PATH = "/api/mfa-setup/"  # below the admin's mount, piccolo-admin's own page
ISSUER_NAME = "Masterplan admin"
CODE_WINDOWS_EITHER_SIDE = 1
TEMPLATES = Path(__file__).parent / "templates"
PICCOLO_TEMPLATES = Path(piccolo_api.__file__).parent / "templates"

# What an operator who must enrol may still reach: the login and logout, the page's
# assets and script, and the enrolment page itself.
OPEN_BEFORE_ENROLMENT = ("/public/", "/assets/", "/extras/", MFA_SETUP_PATH)
ENROLMENT_HEADER = "X-MFA-Enrolment-Required"

LOCK_SECRET = """
SELECT id FROM authenticator_secret WHERE user_id = {} AND revoked_at IS NULL FOR UPDATE
"""

MUST_ENROL = """
SELECT (u.superuser OR {}) AND NOT EXISTS (
    SELECT 1 FROM authenticator_secret s WHERE s.user_id = u.id AND s.revoked_at IS NULL
) AS must_enrol
FROM piccolo_user u WHERE u.id = {}
"""


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError:
        key = b""
    if is_fernet_key(key):
        return key
    raise ConfigurationError(f"ADMIN_MFA_KEY_FILE {path} does not hold a readable Fernet key")


def key_from_file(path: Path) -> bytes:
    """The key in ``path``, generated there first when the file does not exist (also
    when several processes start at once: the first file linked in place wins)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f"{path.name}.{os.getpid()}.new")
        candidate.write_bytes(base64.urlsafe_b64encode(os.urandom(MFA_KEY_BYTES)) + b"\n")
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return _read_key(path)


def encryption_key(mfa: OperatorMFASettings) -> bytes:
    """ADMIN_MFA_KEY, else the development key in ADMIN_MFA_KEY_FILE."""
    return mfa.key.encode() if mfa.key else key_from_file(mfa.key_file)


class OperatorAuthenticator(AuthenticatorProvider):
    """piccolo-api's authenticator provider; its enrolment page also shows the key as
    text (for authenticators that cannot scan) and links back to the admin."""

    def __init__(self, key: bytes) -> None:
        super().__init__(
            encryption_provider=FernetProvider(key),
            issuer_name=ISSUER_NAME,
            # The previous and the next 30-second code too: a phone's clock a little
            # off, or a code typed as it changes, still signs in (RFC 6238, 5.2).
            valid_window=CODE_WINDOWS_EITHER_SIDE,
        )
        loader = FileSystemLoader([str(TEMPLATES), str(PICCOLO_TEMPLATES)])
        self.register_template = Environment(loader=loader, autoescape=True).get_template(
            "mfa_authenticator_setup.html"
        )

    async def authenticate_user(self, user: BaseUser, code: str) -> bool:
        """piccolo-api's check of a code or recovery code, which reads the secret and then
        writes what was used: here on the locked row, so that two logins at once cannot
        both spend one recovery code (or one code)."""
        try:
            async with transaction() as connection:
                await name_on(connection, as_operator(user), "two-factor sign-in")
                await fetch(LOCK_SECRET, user.id)
                return await super().authenticate_user(user=user, code=code)
        except InvalidToken:
            # Encrypted with another key: ADMIN_MFA_KEY changed. Refused, and said why.
            logger.error(
                "two-factor secret of user %s does not decrypt: wrong ADMIN_MFA_KEY", user.id
            )
            return False

    async def get_registration_html(self, user: BaseUser) -> str:
        await name_actor(as_operator(user), "enrol in two-factor sign-in")
        secret, recovery_codes = await self.secret_table.create_new(
            user_id=user.id,
            encryption_provider=self.encryption_provider,
            recovery_code_count=self.recovery_code_count,
        )
        return self.register_template.render(
            qrcode_image=await self._generate_qrcode_image(secret=secret, email=user.email),
            secret_key=self.encryption_provider.decrypt(secret.secret),
            recovery_codes=recovery_codes,
            recovery_codes_str="\n".join(recovery_codes),
            styles=self.styles,
        )

    async def delete_registration(self, user: BaseUser) -> None:
        await name_actor(as_operator(user), "disable two-factor sign-in")
        await super().delete_registration(user=user)


def as_operator(user: BaseUser) -> Actor:
    """The operator, as the change log names them."""
    return Actor(ChangeActorKind.OPERATOR, user.username, user.id)


def operator_authenticators(mfa: OperatorMFASettings) -> list[AuthenticatorProvider]:
    """The admin's MFA providers: none when ADMIN_MFA is off."""
    return [OperatorAuthenticator(encryption_key(mfa))] if mfa.enabled else []


async def must_enrol(token: str, required_for_all: bool) -> bool:
    """Whether the session ``token`` belongs to an operator who must enrol first."""
    user_id = await SessionsBase.get_user_id(token)
    if user_id is None:
        return False  # no session: the admin itself asks for a login
    rows = await fetch(MUST_ENROL, required_for_all, user_id)
    return bool(rows and rows[0]["must_enrol"])


class EnrolmentRequired:
    """ASGI middleware in front of the admin: an operator who must enrol reaches only
    the enrolment page (pages redirect there, the rest is 403)."""

    def __init__(self, app: ASGIApp, mfa: OperatorMFASettings) -> None:
        self.app = app
        self.required_for_all = mfa.required_for_all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection, path = HTTPConnection(scope), route_path(scope)
        token = connection.cookies.get("id")
        if (
            not token
            or path.startswith(OPEN_BEFORE_ENROLMENT)
            or not await must_enrol(token, self.required_for_all)
        ):
            await self.app(scope, receive, send)
            return
        setup_url = f"{scope.get('root_path', '')}{MFA_SETUP_PATH}"
        if path == "/" or "text/html" in connection.headers.get("accept", ""):
            response = RedirectResponse(setup_url, status_code=303)
        else:
            detail = f"two-factor sign-in is required for this account: enrol at {setup_url}"
            response = JSONResponse({"detail": detail}, 403, {ENROLMENT_HEADER: setup_url})
        await response(scope, receive, send)


def with_two_factor(admin: ASGIApp, mfa: OperatorMFASettings) -> ASGIApp:
    """``admin`` with enrolment enforced as ADMIN_MFA says."""
    return EnrolmentRequired(admin, mfa) if mfa.enabled else admin


RESET_BY = Actor(ChangeActorKind.DATABASE, "piccolo masterplan reset-mfa")


class UnknownOperator(LookupError):
    """No operator account has the username given."""


async def reset_two_factor(username: str, actor: Actor = RESET_BY) -> str:
    """Revoke ``username``'s authenticator (and so its recovery codes), recorded as
    ``actor``'s: the operator signs in with the password alone and enrols again. What
    was done, in words."""
    user = await BaseUser.select(BaseUser.id).where(BaseUser.username == username).first()
    if user is None:
        raise UnknownOperator(f"no operator account is named {username!r}")
    async with transaction() as connection:
        await name_on(connection, actor, f"reset two-factor sign-in of {username}")
        in_use = await AuthenticatorSecret.is_user_enrolled(user_id=user["id"])
        await AuthenticatorSecret.revoke(user_id=user["id"])
    if not in_use:
        return f"{username!r} had no authenticator enrolled; nothing changed."
    return f"Two-factor sign-in of {username!r} reset; they enrol again at their next login."
