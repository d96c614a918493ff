"""External ids that are phone numbers are kept in E.164 form: ``+`` and digits.

``60123456789`` (a WhatsApp id), ``+60 12-345 6789``, ``(+60) 123456789`` and
``0060 12 345 6789`` are one lead: ``+60123456789``. Ids that do not look like a
phone number with its country code (``prototype-session:12``, a CRM key, a
national number such as ``012-345 6789``) are kept exactly as given.
"""

import re

# Separators people and systems put inside phone numbers.
SEPARATORS = re.compile(r"[\s\-().]")
# E.164: a country code (never 0) and at most 15 digits in all; fewer than 8 is a
# short code or an internal key. A national number (leading 0) names no country.
PHONE_DIGITS = re.compile(r"^\+?([1-9]\d{7,14})$")


def normalized_external_id(value: str) -> str:
    """The lead key for ``value``: E.164 when it is a phone number, else as given."""
    stripped = value.strip()
    compact = SEPARATORS.sub("", stripped)
    if compact.startswith("00"):  # the international call prefix written out
        compact = compact[2:]
    match = PHONE_DIGITS.match(compact)
    return f"+{match.group(1)}" if match else stripped
