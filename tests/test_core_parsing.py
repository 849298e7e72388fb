"""How LeadLoop reads what people type: one-line leads, amounts, and how it masks contacts."""

from decimal import Decimal

import pytest

from core.errors import InvalidInput
from core.mapping import meta_fields
from core.masking import mask_email, mask_name, mask_phone
from core.money import parse_amount
from core.payloads import parse_body
from core.quick_entry import parse_quick_entry


def test_the_name_is_the_words_before_the_phone() -> None:
    entry = parse_quick_entry("Anna Li +7 912 345 67 89 budget 2m #referral #VIP")
    assert (entry.name, entry.phone) == ("Anna Li", "+7 912 345 67 89")
    assert entry.budget == Decimal(2_000_000)
    assert entry.tags == ["referral", "vip"]
    assert entry.comment is None


def test_national_formats_other_languages_and_a_comment() -> None:
    entry = parse_quick_entry("Пётр Иванов 8 (912) 345-67-89 бюджет 500к хочет кухню")
    assert (entry.name, entry.phone, entry.budget) == (
        "Пётр Иванов",
        "8 (912) 345-67-89",
        Decimal(500_000),
    )
    assert entry.comment == "хочет кухню"
    chinese = parse_quick_entry("王伟 138 0013 8000 预算 30万")
    assert (chinese.name, chinese.budget) == ("王伟", Decimal(300_000))


def test_an_email_may_stand_in_for_the_phone() -> None:
    entry = parse_quick_entry("Anna anna@example.com #web")
    assert (entry.name, entry.phone, entry.email, entry.tags) == (
        "Anna",
        None,
        "anna@example.com",
        ["web"],
    )


@pytest.mark.parametrize("text", ["Anna", "+7 912 345 67 89", ""])
def test_a_line_without_name_or_contact_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_quick_entry(text)
    assert error.value.code == "quick_entry"


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("2m", 2_000_000),
        ("1.5m", 1_500_000),
        ("1,5m", 1_500_000),
        ("500k", 500_000),
        ("250 000", 250_000),
        ("1,200,000", 1_200_000),
        ("30万", 300_000),
        ("99.90", Decimal("99.90")),
    ],
)
def test_amounts_as_people_type_them(text: str, amount: int | Decimal) -> None:
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["-5", "0", "two million", "5x", ""])
def test_negative_zero_or_garbage_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(text)


def test_masking_shows_that_someone_exists_not_who() -> None:
    assert mask_phone("+79123456789") == "+7 912 *** ** 89"
    assert mask_phone("+8613800138000") == "+86 138 **** **00"
    assert mask_email("lena@example.com") == "l***@example.com"
    assert mask_name("Anna Li") == "A*** L***"


def _form_part(name: str, value: bytes, content_type: str | None = None) -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"\r\n'
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return b"--b\r\n" + head.encode() + b"\r\n" + value + b"\r\n"


def test_a_multipart_field_is_read_in_the_charset_its_part_names() -> None:
    body = (
        _form_part("name", "Ольга".encode("koi8-r"), "text/plain; charset=koi8-r")
        + _form_part("comment", "кухня".encode())
        + b"--b--\r\n"
    )
    fields = parse_body("multipart/form-data; boundary=b", body)
    assert fields == {"name": "Ольга", "comment": "кухня"}


def test_a_multipart_field_in_an_unknown_charset_is_refused() -> None:
    body = _form_part("name", b"Olga", "text/plain; charset=martian") + b"--b--\r\n"
    with pytest.raises(InvalidInput, match="not valid multipart/form-data"):
        parse_body("multipart/form-data; boundary=b", body)


def test_json_nested_deeper_than_python_recurses_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid application/json"):
        parse_body("application/json", b"[" * 20_000 + b"]" * 20_000)


@pytest.mark.parametrize(
    ("lead", "field"),
    [
        ([], "lead"),
        ({"field_data": {"name": "email"}}, "field_data"),
        ({"field_data": [{"name": ["email"], "values": ["a@example.com"]}]}, "field_data[0].name"),
    ],
)
def test_a_graph_api_lead_of_the_wrong_shape_is_refused_naming_the_field(
    lead: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        meta_fields(lead)
    assert refused.value.params["field"] == field
