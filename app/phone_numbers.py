"""External ids that are phone numbers are kept in E.164 form: ``+`` and digits.

``60123456789`` (a WhatsApp id), ``+60 12-345 6789`` and ``(+60) 123456789`` are
one lead: ``+60123456789``. Ids that do not look like a phone number
(``prototype-session:12``, a CRM key) are kept exactly as given.
"""

import re

# Separators people and systems put inside phone numbers.
SEPARATORS = re.compile(r"[\s\-().]")
# E.164 allows at most 15 digits; shorter than 8 is a short code or an internal key.
PHONE_DIGITS = re.compile(r"^\+?(\d{8,15})$")


def normalized_external_id(value: str) -> str:
    """The lead key for ``value``: E.164 when it is a phone number, else as given."""
    stripped = value.strip()
    match = PHONE_DIGITS.match(SEPARATORS.sub("", stripped))
    return f"+{match.group(1)}" if match else stripped
