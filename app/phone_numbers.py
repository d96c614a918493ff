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
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
)
from phonenumbers.phonenumberutil import _number_type_helper as number_type_helper
from phonenumbers.timezone import time_zones_for_geographical_number, time_zones_for_number

# Separators people and systems put inside phone numbers.
SEPARATORS = re.compile(r"[\s\-().]")
# "+" or "00" (the international call prefix written out) or nothing, then digits.
INTERNATIONAL_DIGITS = re.compile(r"^(?:\+|00)?(\d{1,20})$")
UNKNOWN_ZONE = "Etc/Unknown"  # libphonenumber's answer when a number names no zone
NORTH_AMERICA = 1  # the country calling code of the North American Numbering Plan
# Distinct lead ids a process remembers the parse of (about 1 KB each).
PARSED_CACHE = 200_000


@dataclass(frozen=True)
class LeadNumber:
    """What a lead's phone number says about where the lead is."""

    e164: str
    valid: bool
    region: str | None  # ISO 3166 country of the number ("US"); None when invalid
    zones: tuple[str, ...]  # candidate IANA zones; () when the number names none
    label: str  # "+1 212" (North American area code) or "+60 (MY)"


def _parsed(value: str) -> PhoneNumber | None:
    """The number ``value`` spells in international form, if it is of a possible length."""
    match = INTERNATIONAL_DIGITS.match(SEPARATORS.sub("", value))
    if not match or match.group(1).startswith("0"):
        return None
    digits = match.group(1)
    number = _from_e164(digits) if value == f"+{digits}" else None
    if number is None:
        try:
            number = phonenumbers.parse(f"+{digits}", None)
        except phonenumbers.NumberParseException:
            return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return number


def _from_e164(digits: str) -> PhoneNumber | None:
    """A stored id already in E.164 (what leads hold), read without ``parse``'s general
    path (a tenth of its cost); None unless formatting it gives the id back, so that
    anything unusual takes the general path."""
    for size in (1, 2, 3):  # country calling codes are prefix-free
        if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not national:
        return None
    number = PhoneNumber(country_code=int(digits[:size]), national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros:  # kept as libphonenumber keeps them (Italy's numbers start with 0)
        number.italian_leading_zero = True
        if zeros > 1:
            number.number_of_leading_zeros = zeros
    return (
        number
        if phonenumbers.format_number(number, PhoneNumberFormat.E164) == f"+{digits}"
        else None
    )


@lru_cache(maxsize=PARSED_CACHE)
def lead_number(external_id: str) -> LeadNumber | None:
    """The phone number a lead id is, or None for an opaque key (parsed once per id)."""
    number = _parsed(external_id.strip())
    if number is None:
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    region, kind = _region_and_type(number)
    if kind == PhoneNumberType.UNKNOWN or region is None:
        return LeadNumber(e164, False, None, (), f"+{number.country_code}")
    return LeadNumber(e164, True, region, _zones(number, kind), _label(number, region))


def _label(number: PhoneNumber, region: str) -> str:
    """How a reason names the number: with its area code in the North American plan,
    where it is always the first three digits ("+1 212"), else with its country
    ("+60 (MY)"); libphonenumber's general split costs more than the rest together."""
    if number.country_code == NORTH_AMERICA:
        return f"+1 {str(number.national_number)[:3]}"
    return f"+{number.country_code} ({region})"


def _region_and_type(number: PhoneNumber) -> tuple[str | None, int]:
    """``region_code_for_number`` and ``number_type`` in one pass: the type is
    libphonenumber's costliest step, and ``number_type`` finds the region again
    (for +1, +7 or +44, by trying each region). tests/test_phone_numbers.py checks
    the two answers against libphonenumber's own for every example number."""
    national = phonenumbers.national_significant_number(number)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code, ())
    if len(regions) > 1:
        # libphonenumber's own first step for a shared code (+1: the US, then the
        # others): a region without leading digits whose types the number matches.
        first = PhoneMetadata.metadata_for_region(regions[0])
        if first is not None and first.leading_digits is None:
            kind = number_type_helper(national, first)
            if kind != PhoneNumberType.UNKNOWN:
                return regions[0], kind
    region = phonenumbers.region_code_for_number(number)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
    if metadata is None:
        return region, PhoneNumberType.UNKNOWN
    return region, number_type_helper(national, metadata)


def _zones(number: PhoneNumber, kind: int) -> tuple[str, ...]:
    """``time_zones_for_number`` of a valid number whose type is known."""
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        zones = time_zones_for_geographical_number(number)
    else:  # libphonenumber reads these by country code alone
        zones = COUNTRY_ZONES.get(number.country_code)
        if zones is None:
            zones = COUNTRY_ZONES[number.country_code] = tuple(time_zones_for_number(number))
    return tuple(zone for zone in zones if zone != UNKNOWN_ZONE)


# Zones of non-geographical numbers by country code (a few hundred at most).
COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def normalized_external_id(value: str) -> str:
    """The lead key for ``value``: E.164 when it is a phone number, else as given."""
    number = lead_number(value)
    return number.e164 if number is not None else value.strip()
