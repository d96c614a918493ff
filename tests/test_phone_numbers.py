"""External ids that are phone numbers have one form, E.164, through libphonenumber; what
the number says (validity, country, zones, area) is read from its metadata."""

import pytest

from app.phone_numbers import lead_number, normalized_external_id


@pytest.fixture
def fresh_database() -> None:
    """A pure function: no database."""


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("60123456789", "+60123456789"),  # a WhatsApp id
        ("+60123456789", "+60123456789"),
        ("+60 12-345 6789", "+60123456789"),
        ("(+60) 123.456.789", "+60123456789"),
        ("0060 12 345 6789", "+60123456789"),
        (" +1 (555) 010-0001 ", "+15550100001"),  # possible, not valid: E.164, flagged
        ("+1 000 000 0000", "+10000000000"),  # likewise
        ("012-345 6789", "012-345 6789"),  # national: no country code
        ("+1555", "+1555"),  # too short for a phone number
        ("12345678", "12345678"),  # not a possible length for +1
        ("+1234567890123456", "+1234567890123456"),  # longer than E.164 allows
        ("+999123456789", "+999123456789"),  # no such country code
        ("prototype-session:12", "prototype-session:12"),
        ("crm:42", "crm:42"),
        ("  lead-7 ", "lead-7"),
    ],
)
def test_phone_numbers_are_kept_in_e164_and_other_ids_as_given(given, stored):
    assert normalized_external_id(given) == stored
    assert normalized_external_id(stored) == stored  # stable


def test_a_valid_number_names_its_country_zones_and_area():
    number = lead_number("+1 212 555 0123")
    assert (number.valid, number.region, number.zones, number.label) == (
        True,
        "US",
        ("America/New_York",),
        "+1 212",
    )
    assert len(lead_number("+79123456789").zones) >= 11  # Russia spans eleven zones


@pytest.mark.parametrize("given", ["+10000000000", "+15550100001"])
def test_an_invalid_number_is_flagged_and_names_nothing(given):
    number = lead_number(given)
    assert number is not None and number.e164 == given
    assert (number.valid, number.region, number.zones) == (False, None, ())


@pytest.mark.parametrize("given", ["crm:42", "012-345 6789", "+1555"])
def test_an_opaque_key_is_no_number(given):
    assert lead_number(given) is None


def test_what_a_number_says_agrees_with_libphonenumbers_own_answers():
    """Every example number of every region and type: validity, country and zones as
    ``is_valid_number``, ``region_code_for_number`` and ``time_zones_for_number`` say."""
    import phonenumbers
    from phonenumbers.timezone import time_zones_for_number

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):  # fmt: skip
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            number = lead_number(phonenumbers.format_number(example, 0))
            assert number is not None and number.valid == phonenumbers.is_valid_number(example)
            expected = tuple(z for z in time_zones_for_number(example) if z != "Etc/Unknown")
            assert number.zones == expected, region
            assert number.region == phonenumbers.region_code_for_number(example)
            checked += 1
    assert checked > 600


def test_a_stored_id_is_read_as_libphonenumber_parses_it():
    """Ids already in E.164 skip ``parse``'s general path: the number is the same."""
    import phonenumbers

    from app.phone_numbers import _from_e164

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, 0)
            assert _from_e164(e164[1:]) == phonenumbers.parse(e164, None), e164
            checked += 1
    assert checked > 400
