"""External ids that are phone numbers have one form: E.164."""

import pytest

from app.phone_numbers import normalized_external_id


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
        (" +1 (555) 010-0001 ", "+15550100001"),
        ("012-345 6789", "012-345 6789"),  # national: no country code
        ("+1555", "+1555"),  # too short for a phone number
        ("+1234567890123456", "+1234567890123456"),  # longer than E.164 allows
        ("prototype-session:12", "prototype-session:12"),
        ("crm:42", "crm:42"),
        ("  lead-7 ", "lead-7"),
    ],
)
def test_phone_numbers_are_kept_in_e164_and_other_ids_as_given(given, stored):
    assert normalized_external_id(given) == stored
    assert normalized_external_id(stored) == stored  # stable
