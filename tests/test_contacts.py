import pytest

from core.contacts import normalize_email, normalize_phone
from core.errors import InvalidInput
from core.masking import mask_number, mask_phone


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+7 912 345 67 89", "US", "+79123456789"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("８ (９１２) ３４５-６７-８９", "RU", "+79123456789"),
        ("＋７ ９１２ ３４５ ６７ ８９", "CN", "+79123456789"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("(415) 555-2671", "US", "+14155552671"),
    ],
)
def test_phones_are_normalised_to_e164(raw: str, region: str, e164: str) -> None:
    phone = normalize_phone(raw, region)
    assert phone.e164 == e164
    assert phone.valid


@pytest.mark.parametrize(
    ("raw", "region", "shown"),
    [
        ("8 (912) 345-67-89", "RU", "+7 912 *** ** 89"),
        ("８ (９１２) ３４５-６７-８９", "RU", "+7 912 *** ** 89"),
        ("138 0013 8000", "CN", "+86 138 **** **00"),
        ("(415) 555-2671 ext. 45", "US", "+1 415 *** **71"),
        ("06 1234 5678", "IT", "+39 06 1*** **78"),
    ],
)
def test_a_number_as_parsed_is_masked_as_its_e164_is(raw: str, region: str, shown: str) -> None:
    phone = normalize_phone(raw, region)
    assert mask_number(phone.number) == mask_phone(phone.e164) == shown


def test_a_possible_but_unassigned_number_is_kept_and_flagged() -> None:
    phone = normalize_phone("+7 000 000 00 00", "RU")
    assert phone.e164 == "+70000000000"
    assert phone.valid is False


@pytest.mark.parametrize("raw", ["12", "+7 912 345 67 890 12", "+1 555 0100 1234"])
def test_an_impossible_number_is_refused_with_a_clear_message(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        normalize_phone(raw, "RU")
    assert error.value.code == "phone_impossible"
    assert "cannot be a phone number" in str(error.value)
    assert error.value.params["phone"] == raw


def test_text_that_is_no_number_at_all_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        normalize_phone("call me maybe", "RU")
    assert error.value.code == "phone_unparsable"


def test_emails_are_lowercased_and_checked() -> None:
    assert normalize_email("  Anna.Li@Example.COM ") == "anna.li@example.com"
    with pytest.raises(InvalidInput):
        normalize_email("anna at example")
