"""Lead ids that are phone numbers, read through libphonenumber (``phonenumbers``).

One rule on every surface (webhook, API, upsert, import, admin, lookups):

- A **phone number** is a text that, once the separators people write (spaces,
  ``-``, ``.``, brackets) are removed and ``00`` or nothing before the digits is
  read as ``+``, libphonenumber parses with its country code and finds of a
  possible length for that country. It is kept in E.164: ``60123456789`` (a
  WhatsApp id), ``+60 12-345 6789``, ``(+60) 123456789`` and ``0060 12 345 6789``
  are one lead, ``+60123456789``.
- A phone number that libphonenumber's metadata does not know as **valid**
  (``+10000000000``, the fictional ``+1 555 01xx``) is still kept in E.164, so that
  its spellings stay one lead, but it is flagged: it names no country, zone,
  holiday calendar or jurisdiction (``LeadNumber.valid`` is False), and the lead's
  local time falls back to the workspace's zone, saying why.
- Anything else (``prototype-session:12``, ``crm:42``, a national number such as
  ``012-345 6789``, ``+1555``) is an opaque key, kept exactly as given (trimmed).
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat, ValidationResult
from phonenumbers.timezone import time_zones_for_number

# Separators people and systems put inside phone numbers.
SEPARATORS = re.compile(r"[\s\-().]")
# "+" or "00" (the international call prefix written out) or nothing, then digits.
INTERNATIONAL_DIGITS = re.compile(r"^(?:\+|00)?(\d{1,20})$")
UNKNOWN_ZONE = "Etc/Unknown"  # libphonenumber's answer when a number names no zone
# Distinct lead ids a process remembers the parse of (about 1 KB each).
PARSED_CACHE = 200_000


@dataclass(frozen=True)
class LeadNumber:
    """What a lead's phone number says about where the lead is."""

    e164: str
    valid: bool
    region: str | None  # ISO 3166 country of the number ("US"); None when invalid
    zones: tuple[str, ...]  # candidate IANA zones; () when the number names none
    label: str  # "+1 212": country code and area (national destination) code

    @property
    def country_code(self) -> str:
        return self.label.split()[0]


def _parsed(value: str) -> PhoneNumber | None:
    """The number ``value`` spells in international form, if it is of a possible length."""
    match = INTERNATIONAL_DIGITS.match(SEPARATORS.sub("", value))
    if not match or match.group(1).startswith("0"):
        return None
    try:
        number = phonenumbers.parse(f"+{match.group(1)}", None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return number


@lru_cache(maxsize=PARSED_CACHE)
def lead_number(external_id: str) -> LeadNumber | None:
    """The phone number a lead id is, or None for an opaque key (parsed once per id)."""
    number = _parsed(external_id.strip())
    if number is None:
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    area_digits = phonenumbers.length_of_national_destination_code(number)
    national = str(number.national_number)
    label = f"+{number.country_code} {national[:area_digits]}".rstrip()
    if not phonenumbers.is_valid_number(number):
        return LeadNumber(e164, False, None, (), label)
    zones = tuple(zone for zone in time_zones_for_number(number) if zone != UNKNOWN_ZONE)
    return LeadNumber(e164, True, phonenumbers.region_code_for_number(number), zones, label)


def normalized_external_id(value: str) -> str:
    """The lead key for ``value``: E.164 when it is a phone number, else as given."""
    number = lead_number(value)
    return number.e164 if number is not None else value.strip()
