"""Lead webhooks at their edges, end to end through FastAPI: rate limits, Google Forms' signature,
multipart bodies, idempotency keys and their lifetime, size limits, the served schema, bad
input that must be a 4xx and a database that is down.

The app, fixtures and helpers are tests/intakekit.py's, shared with tests/test_intake.py.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake, sources, teams
from core.db import create_engine, session_factory
from core.models import Lead, OutboxMessage, WebhookDelivery, utcnow
from tests import factories
from tests.botkit import BotUnderTest, text_of
from tests.intakekit import (
    BEARER,
    MAX_BYTES,
    WHSEC,
    activities_of,
    add_source,
    base64_hmac,
    counted,
    journal_of,
    keys_of,
    lead_json,
    leads_of,
    meta_signed,
    nothing_stored,
    sample,
    standard,
)
from webhooks.app import create_app
from webhooks.graph import GraphClient
from webhooks.leads import leads_router
from webhooks.metrics import Metrics, metrics_router

# --- rate limits ---------------------------------------------------------------------------


async def test_a_spent_burst_is_refused_with_429_and_retry_after_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    # Two at once, then one every five seconds.
    await add_source(session, "site", "generic", secret=WHSEC, rate=0.2, burst=2)
    answers = []
    for n in range(3):
        body = lead_json(f"Burst {n}", f"+7 916 555 00 0{n}")
        answers.append(
            await client.post("/webhooks/leads/site", content=body, headers=standard(body, f"b{n}"))
        )
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.headers["retry-after"] == "5"  # one more request fits in 1 / rate seconds
    assert refused.json() == {"detail": "too many requests"}
    assert [lead.name for lead in await leads_of(session)] == ["Burst 0", "Burst 1"]
    assert await journal_of(session) == ["accepted", "accepted"]
    assert len(await keys_of(session)) == 2
    assert await counted(client, "site", "rate_limited") == 1
    assert await counted(client, "site", "accepted") == 2


# --- Google Forms --------------------------------------------------------------------------


def apps_script_body() -> bytes:
    """What the README's Apps Script posts: item titles to answers, `JSON.stringify`'d
    (compact, non-ASCII left as is, UTF-8 on the wire), plus the response id."""
    fields = {
        "Name": "Ольга Петрова",
        "Phone": "8 912 777-66-55",
        "Email": "olga@example.com",
        "Comment": "нужен ремонт кухни",
        "responseId": "ACYDBNj4mqHb0lZ",
    }
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


async def test_google_forms_signed_as_the_readme_apps_script_signs_makes_a_lead(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    secret = "gf-secret-Ж"  # the Apps Script signs with the secret's UTF-8 bytes too
    await add_source(session, "gform", "google-forms", secret=secret)
    body = apps_script_body()
    headers = {
        "content-type": "application/json",
        "x-leadloop-signature": "sha256=" + base64_hmac(secret, body),
    }
    response = await client.post("/webhooks/leads/gform", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "accepted"
    [lead] = await leads_of(session)
    assert response.json()["leads"] == [lead.id]
    assert (lead.name, lead.phone_e164, lead.email, lead.source) == (
        "Ольга Петрова",
        "+79127776655",
        "olga@example.com",
        "gform",
    )
    assert await activities_of(session) == [(lead.id, "нужен ремонт кухни", None)]


async def test_google_forms_forged_or_missing_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "gform", "google-forms", secret="gf-secret")
    body = apps_script_body()
    forged = {
        "content-type": "application/json",
        "x-leadloop-signature": "sha256=" + base64_hmac("not-the-secret", body),
    }
    unsigned = {"content-type": "application/json"}
    for headers in (forged, unsigned):
        response = await client.post("/webhooks/leads/gform", content=body, headers=headers)
        assert response.status_code == 401, response.text
    assert await nothing_stored(session)
    assert await counted(client, "gform", "unauthenticated") == 2


# --- multipart/form-data -------------------------------------------------------------------


async def test_a_multipart_form_body_becomes_a_lead_and_its_file_is_ignored(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    response = await client.post(
        "/webhooks/leads/site",
        data={"name": "Anna Li", "phone": "+7 (912) 345-67-89", "comment": "call after 6"},
        files={"photo": ("kitchen.jpg", b"\xff\xd8\xff\xe0 not text", "image/jpeg")},
        headers={"authorization": f"Bearer {WHSEC}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "accepted"
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164) == ("Anna Li", "+79123456789")
    assert await activities_of(session) == [(lead.id, "call after 6", None)]


async def test_a_multipart_form_keeps_a_non_latin_name(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    # Browsers (and httpx) send form fields as UTF-8 with no per-part charset (RFC 7578).
    await add_source(session, "site", "generic", secret=WHSEC)
    response = await client.post(
        "/webhooks/leads/site",
        data={"name": "Анна Ли", "phone": "+7 912 345 67 89", "comment": "кухня"},
        files={"photo": ("kitchen.jpg", b"\xff\xd8", "image/jpeg")},
        headers={"authorization": f"Bearer {WHSEC}"},
    )
    assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164) == ("Анна Ли", "+79123456789")
    assert await activities_of(session) == [(lead.id, "кухня", None)]


# --- idempotency keys ----------------------------------------------------------------------


async def test_an_idempotency_key_redelivered_with_another_body_is_a_duplicate(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    first = lead_json("Olga", "+7 916 100 00 01")
    again = lead_json("Olga (edited)", "+7 916 100 00 02")  # other person: no dedup by phone
    headers = {**BEARER, "idempotency-key": "order-42"}
    accepted = await client.post("/webhooks/leads/site", content=first, headers=headers)
    duplicate = await client.post("/webhooks/leads/site", content=again, headers=headers)
    assert (accepted.status_code, accepted.json()["outcome"]) == (200, "accepted")
    assert (duplicate.status_code, duplicate.json()) == (
        200,
        {"ok": True, "outcome": "duplicate", "leads": []},
    )
    assert [lead.phone_e164 for lead in await leads_of(session)] == ["+79161000001"]
    assert await journal_of(session) == ["accepted", "duplicate"]
    # Another key with the second body is a new delivery.
    other = await client.post(
        "/webhooks/leads/site", content=again, headers={**headers, "idempotency-key": "order-43"}
    )
    assert other.json()["outcome"] == "accepted"
    assert len(await leads_of(session)) == 2


async def test_a_typeform_event_id_redelivered_is_a_duplicate(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    secret = "tf-secret"
    await add_source(session, "tf", "typeform", secret=secret)
    body = sample("typeform", "form_response")["body_raw"].encode()
    # Typeform's retry of the same event: same event_id, the answer changed since.
    retry = body.replace(b"laura@example.com", b"laura.li@example.com")
    assert retry != body
    answers = []
    for sent in (body, retry):
        headers = {
            "typeform-signature": "sha256=" + base64_hmac(secret, sent),
            "content-type": "application/json",
        }
        answers.append(await client.post("/webhooks/leads/tf", content=sent, headers=headers))
    assert [(answer.status_code, answer.json()["outcome"]) for answer in answers] == [
        (200, "accepted"),
        (200, "duplicate"),
    ]
    [lead] = await leads_of(session)
    assert (lead.name, lead.email) == ("Laura", "laura@example.com")
    assert await journal_of(session) == ["accepted", "duplicate"]


def leadgen(*leadgen_ids: int, entry_time: int) -> bytes:
    """A Meta leadgen notification for these leads, in the shape of the vendor's sample."""
    payload = json.loads(sample("meta_lead_ads", "leadgen_notification")["body_raw"])
    entry = payload["entry"][0]
    entry["time"] = entry_time
    change = entry["changes"][0]
    entry["changes"] = [
        {**change, "value": {**change["value"], "leadgen_id": leadgen_id}}
        for leadgen_id in leadgen_ids
    ]
    return json.dumps(payload).encode()


async def test_a_meta_leadgen_id_redelivered_is_a_duplicate(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    secret = sample("meta_lead_ads", "vector")["app_secret"]
    await add_source(session, "fb", "meta", secret=secret, access_token="page-token")
    first = leadgen(123123123123, entry_time=1438292065)
    again = leadgen(123123123123, entry_time=1438292999)  # Meta's retry: a new envelope
    assert first != again
    accepted = await client.post(
        "/webhooks/leads/fb", content=first, headers=meta_signed(secret, first)
    )
    duplicate = await client.post(
        "/webhooks/leads/fb", content=again, headers=meta_signed(secret, again)
    )
    assert (accepted.status_code, accepted.json()["outcome"]) == (200, "accepted")
    assert (duplicate.status_code, duplicate.json()["outcome"]) == (200, "duplicate")
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164) == ("Meta 123", "+14155553123")
    assert await activities_of(session) == []  # no "came back" note for a mere retry
    assert await journal_of(session) == ["accepted", "duplicate"]


async def test_meta_leads_retried_in_other_batches_are_recognised_one_by_one(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    # Meta retries each lead on its own schedule: a retry may come alone, or beside a new lead.
    secret = sample("meta_lead_ads", "vector")["app_secret"]
    await add_source(session, "fb", "meta", secret=secret, access_token="page-token")

    async def deliver(*leadgen_ids: int, entry_time: int) -> dict:
        body = leadgen(*leadgen_ids, entry_time=entry_time)
        response = await client.post(
            "/webhooks/leads/fb", content=body, headers=meta_signed(secret, body)
        )
        assert response.status_code == 200, response.text
        return response.json()

    first = await deliver(123123123123, 123123123124, entry_time=1438292065)
    alone = await deliver(123123123124, entry_time=1438292100)
    beside_a_new_one = await deliver(123123123123, 123123123125, entry_time=1438292200)

    leads = await leads_of(session)
    assert [lead.name for lead in leads] == ["Meta 123", "Meta 124", "Meta 125"]
    assert (first["outcome"], first["leads"]) == ("accepted", [leads[0].id, leads[1].id])
    assert (alone["outcome"], alone["leads"]) == ("duplicate", [])
    assert (beside_a_new_one["outcome"], beside_a_new_one["leads"]) == ("accepted", [leads[2].id])
    # A retry is no comeback: no "came back via fb" note, no push beyond the three offers.
    assert await activities_of(session) == []
    pushes = (await session.exec(select(OutboxMessage.kind))).all()
    assert sorted(pushes) == ["lead_offer"] * 3
    assert await journal_of(session) == ["accepted", "duplicate", "accepted"]
    assert await keys_of(session) == [f"event:12312312312{n}" for n in (3, 4, 5)]

    # Retried once more after the mapping changed so that no item can be a lead: still a retry.
    await sources.update_source(
        session, name="fb", values={"mapping": ["phone=nowhere", "email=nowhere"]}
    )
    retried = await deliver(123123123125, 123123123124, entry_time=1438292300)
    assert (retried["outcome"], retried["leads"]) == ("duplicate", [])
    refused = await client.post(
        "/webhooks/leads/fb",
        content=(body := leadgen(123123123124, 123123123126, entry_time=1438292400)),
        headers=meta_signed(secret, body),
    )
    assert refused.status_code == 422  # one of its leads is new: refused, not a retry
    assert len(await leads_of(session)) == 3
    assert await journal_of(session) == [
        "accepted",
        "duplicate",
        "accepted",
        "duplicate",
        "rejected",
    ]


async def test_identical_bodies_without_any_id_are_recognised_by_their_content(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = lead_json("Pavel", email="pavel@example.com", comment="first ask")
    answers = [
        await client.post("/webhooks/leads/site", content=body, headers=BEARER) for _ in range(2)
    ]
    assert [(answer.status_code, answer.json()["outcome"]) for answer in answers] == [
        (200, "accepted"),
        (200, "duplicate"),
    ]
    [lead] = await leads_of(session)
    assert lead.email == "pavel@example.com"
    # The duplicate is no comeback: only the form's own comment, once.
    assert await activities_of(session) == [(lead.id, "first ask", None)]
    assert len((await session.exec(select(OutboxMessage))).all()) == 1  # the one offer
    # One byte more is another delivery (same person: a comeback, not a second lead).
    changed = await client.post("/webhooks/leads/site", content=body + b" ", headers=BEARER)
    assert (changed.json()["outcome"], changed.json()["leads"]) == ("accepted", [lead.id])
    assert len(await leads_of(session)) == 1


# --- key lifetime --------------------------------------------------------------------------


async def test_keys_older_than_72_hours_are_forgotten_yet_the_person_stays_one_lead(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = lead_json("Irina", "+7 916 200 00 01")
    headers = {**BEARER, "idempotency-key": "sub-7"}
    first = await client.post("/webhooks/leads/site", content=body, headers=headers)
    [lead] = await leads_of(session)
    assert first.json()["leads"] == [lead.id]
    assert await keys_of(session) == ["idempotency-key:sub-7"]

    await intake.forget_old_keys(session, utcnow() + timedelta(hours=73))
    assert await keys_of(session) == []
    late = await client.post("/webhooks/leads/site", content=body, headers=headers)
    # No longer recognised as a redelivery, but the same phone is the same person.
    assert (late.status_code, late.json()["outcome"], late.json()["leads"]) == (
        200,
        "accepted",
        [lead.id],
    )
    assert [row.id for row in await leads_of(session)] == [lead.id]
    assert await activities_of(session) == [(lead.id, "", "up")]
    assert await journal_of(session) == ["accepted", "accepted"]
    assert await keys_of(session) == ["idempotency-key:sub-7"]


async def test_keys_younger_than_72_hours_are_kept_and_still_recognised(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = lead_json("Irina", "+7 916 200 00 01")
    headers = {**BEARER, "idempotency-key": "sub-8"}
    await client.post("/webhooks/leads/site", content=body, headers=headers)

    await intake.forget_old_keys(session, utcnow() + timedelta(hours=71))
    assert await keys_of(session) == ["idempotency-key:sub-8"]
    again = await client.post("/webhooks/leads/site", content=body, headers=headers)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert len(await leads_of(session)) == 1
    assert await activities_of(session) == []
    assert await journal_of(session) == ["accepted", "duplicate"]


# --- Meta without a signature --------------------------------------------------------------


async def test_a_meta_post_without_x_hub_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    secret = sample("meta_lead_ads", "vector")["app_secret"]
    await add_source(session, "fb", "meta", secret=secret, access_token="page-token")
    body = sample("meta_lead_ads", "leadgen_notification")["body_raw"].encode()
    response = await client.post(
        "/webhooks/leads/fb", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "missing or wrong signature"}
    assert await nothing_stored(session)
    assert await counted(client, "fb", "unauthenticated") == 1


# --- the journal keeps no key -------------------------------------------------------------


async def test_the_journal_keeps_the_headers_but_not_the_keys_they_carried(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    await add_source(session, "tilda", "tilda", secret="tilda-key")
    bearer = await client.post(
        "/webhooks/leads/site", content=lead_json("Anna", "+7 916 300 00 01"), headers=BEARER
    )
    keyed = await client.post(
        "/webhooks/leads/tilda",
        content=b"Name=Boris&Phone=%2B79163000002",
        headers={"content-type": "application/x-www-form-urlencoded", "x-api-key": "tilda-key"},
    )
    assert (bearer.status_code, keyed.status_code) == (200, 200)
    query = select(WebhookDelivery).order_by(col(WebhookDelivery.id))
    first, second = (await session.exec(query)).all()
    assert first.headers["authorization"] == "***"
    assert (second.headers["x-api-key"], second.headers["content-type"]) == (
        "***",
        "application/x-www-form-urlencoded",
    )


# --- dedup by email ------------------------------------------------------------------------


async def test_the_same_email_in_other_case_is_a_comeback_not_a_second_lead(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    first = lead_json("Lena", email="Lena@Example.COM")
    again = lead_json("Lena K.", email="lena@example.com", comment="still interested")
    accepted = await client.post("/webhooks/leads/site", content=first, headers=BEARER)
    back = await client.post("/webhooks/leads/site", content=again, headers=BEARER)
    [lead] = await leads_of(session)
    assert (lead.name, lead.email) == ("Lena", "lena@example.com")
    assert accepted.json()["leads"] == [lead.id]
    assert (back.status_code, back.json()["outcome"], back.json()["leads"]) == (
        200,
        "accepted",
        [lead.id],
    )
    assert await activities_of(session) == [(lead.id, "still interested", "up")]
    pushes = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [(push.kind, push.recipient_id) for push in pushes] == [
        ("lead_offer", lead.owner_id),
        ("lead_returned", lead.owner_id),
    ]


async def test_a_pooled_lead_asking_again_is_told_to_the_teams_managers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha", country="RU")  # no reps: leads pool
    managers = [await factories.user(session, team, role="manager") for _ in range(2)]
    manager_ids = [manager.id for manager in managers]
    await add_source(session, "site", "generic", secret=WHSEC)
    for comment in ("", "still interested"):
        body = lead_json("Lena", "+7 916 400 00 01", comment=comment)
        response = await client.post("/webhooks/leads/site", content=body, headers=BEARER)
        assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert (lead.state, lead.owner_id) == ("pool", None)
    pushes = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [(push.kind, push.recipient_id) for push in pushes] == [
        *(("lead_pooled", manager_id) for manager_id in manager_ids),
        *(("lead_returned", manager_id) for manager_id in manager_ids),
    ]


# --- the served schema ---------------------------------------------------------------------


async def test_openapi_schema_and_docs_page_are_served(client: httpx.AsyncClient) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.headers["content-type"].startswith("application/json")
    paths = schema.json()["paths"]
    assert set(paths["/webhooks/leads/{name}"]) == {"get", "post"}
    post = paths["/webhooks/leads/{name}"]["post"]
    assert {"200", "401", "404", "413", "422", "429", "503"} <= set(post["responses"])
    assert post["requestBody"]["content"].keys() >= {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text and "swagger" in docs.text.lower()


# --- batches racing for the same reps ------------------------------------------------------


async def test_batches_racing_for_reps_at_their_cap_are_all_accepted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # Two reps who take one lead each, two deliveries of two leads at once: each delivery
    # locks a rep for its first lead, then waits for the other's rep for its second. On
    # PostgreSQL that is a deadlock, which it breaks by failing one side: that side is run
    # again, not answered 503.
    for round_ in range(3):
        team = await factories.team(session, f"Team {round_}", country="RU")
        for name in ("Anna", "Boris"):
            await factories.user(session, team, name=f"{name} {round_}")
        await teams.update_team(session, name=team.name, values={"max_open_leads": "1"})
        await sources.add_source(
            session,
            name=f"site{round_}",
            kind="generic",
            values={"team": team.name, "secret": WHSEC},
        )
        batches = [
            json.dumps(
                [{"name": f"{who}{n}", "phone": f"+7 916 {round_}{m}0 00 0{n}"} for n in range(2)]
            ).encode()
            for m, who in enumerate(("X", "Y"))
        ]
        answers = await asyncio.gather(
            *(
                client.post(f"/webhooks/leads/site{round_}", content=batch, headers=BEARER)
                for batch in batches
            )
        )
        assert [answer.status_code for answer in answers] == [200, 200]
        leads = (await session.exec(select(Lead).where(Lead.team_id == team.id))).all()
        states = sorted(lead.state for lead in leads)
        assert states == ["offered", "offered", "pool", "pool"]  # one each, the rest pooled
        assert len({lead.owner_id for lead in leads if lead.owner_id}) == 2


# --- size limit ----------------------------------------------------------------------------


async def test_a_body_streamed_without_content_length_over_the_limit_is_413_and_counted(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    chunk = b" " * 1024
    chunks_total = 4 * MAX_BYTES // len(chunk)
    sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b"["
        for _ in range(chunks_total):
            sent += 1
            yield chunk
        yield b"]"

    response = await client.post("/webhooks/leads/site", content=stream(), headers=BEARER)
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": f"request body exceeds {MAX_BYTES} bytes"}
    # Refused as soon as the limit was passed, not after reading the whole body.
    assert sent <= MAX_BYTES // len(chunk) + 1 < chunks_total
    assert await leads_of(session) == []
    assert await journal_of(session) == []

    unknown = await client.post("/webhooks/leads/nope", content=lead_json("X", "+79123456789"))
    assert unknown.status_code == 404
    assert await counted(client, "site", "too_large") == 1
    assert await counted(client, "unknown", "unknown_source") == 1


async def test_a_streamed_body_within_the_limit_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = lead_json("Streamed", "+7 916 300 00 01")

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await client.post("/webhooks/leads/site", content=stream(), headers=BEARER)
    assert (response.status_code, response.json()["outcome"]) == (200, "accepted")
    assert [lead.name for lead in await leads_of(session)] == ["Streamed"]
    assert await counted(client, "site", "too_large") == 0


# --- bad input is a 4xx, never a 500 -------------------------------------------------------


def vendor_signed(kind: str, secret: str, body: bytes) -> dict[str, str]:
    """Headers that sign `body` the way `kind` (typeform, tally or meta) signs."""
    if kind == "meta":
        return meta_signed(secret, body)
    header, prefix = {
        "typeform": ("typeform-signature", "sha256="),
        "tally": ("tally-signature", ""),
    }[kind]
    return {header: prefix + base64_hmac(secret, body), "content-type": "application/json"}


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("typeform", b"[]", "body"),
        ("typeform", b'"x"', "body"),
        ("typeform", b'{"form_response": []}', "form_response"),
        ("typeform", b'{"form_response": {"answers": [1]}}', "form_response.answers[0]"),
        (
            "typeform",
            b'{"form_response": {"answers": [{"type": 1}]}}',
            "form_response.answers[0].type",
        ),
        ("tally", b"[]", "body"),
        ("tally", b'{"data": {"fields": [{"label": ["a"], "value": 1}]}}', "data.fields[0].label"),
        ("meta", b'{"entry": [1]}', "entry[0]"),
        ("meta", b'{"entry": [{"changes": ["x"]}]}', "entry[0].changes[0]"),
    ],
)
async def test_a_signed_vendor_body_of_the_wrong_shape_is_422_naming_the_field_and_journalled(
    client: httpx.AsyncClient, session: AsyncSession, team, kind: str, body: bytes, field: str
) -> None:
    await add_source(session, "form", kind, secret="vendor-secret", access_token="page-token")
    headers = vendor_signed(kind, "vendor-secret", body)
    response = await client.post("/webhooks/leads/form", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(f"{field} is not ")
    assert await journal_of(session) == ["rejected"]  # kept, to replay once the sender is fixed
    assert await leads_of(session) == []
    assert await counted(client, "form", "rejected") == 1


async def test_a_typeform_form_asking_for_name_and_phone_makes_a_lead(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "tf", "typeform", secret="tf-secret")
    payload = json.loads(sample("typeform", "form_response")["body_raw"])
    response = payload["form_response"]
    [name] = [answer for answer in response["answers"] if answer["field"]["type"] == "short_text"]
    # The answer to a Typeform "Phone number" question, as their webhook docs show it.
    phone = {
        "type": "phone_number",
        "phone_number": "+79123456789",
        "field": {"id": "Fw3hW2bUaPvb", "type": "phone_number"},
    }
    response["answers"] = [name, phone]
    body = json.dumps(payload).encode()
    headers = vendor_signed("typeform", "tf-secret", body)
    answer = await client.post("/webhooks/leads/tf", content=body, headers=headers)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "accepted")
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164, lead.email) == ("Laura", "+79123456789", None)


#: Deeper than Python's recursion limit, and well within the size limit.
NESTED_JSON = b"[" * 20_000 + b"]" * 20_000


async def test_json_nested_too_deeply_is_422_from_an_open_tilda_and_401_at_a_keyed_one(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "open", "tilda")
    await add_source(session, "keyed", "tilda", secret="tilda-key")
    headers = {"content-type": "application/json"}
    unsigned = await client.post("/webhooks/leads/open", content=NESTED_JSON, headers=headers)
    keyless = await client.post("/webhooks/leads/keyed", content=NESTED_JSON, headers=headers)
    assert (unsigned.status_code, unsigned.json()["field"]) == (422, "body")
    assert keyless.status_code == 401
    assert await journal_of(session) == ["rejected"]  # the keyless one is not authenticated
    assert await leads_of(session) == []
    assert await counted(client, "keyed", "unauthenticated") == 1


async def test_a_webhook_timestamp_of_other_digits_than_ascii_is_401(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = lead_json("Anna", "+79123456789")
    headers = {**standard(body), "webhook-timestamp": "²".encode("latin-1")}
    response = await client.post("/webhooks/leads/site", content=body, headers=headers)
    assert response.status_code == 401
    assert await journal_of(session) == []
    assert await counted(client, "site", "unauthenticated") == 1


@pytest.mark.parametrize(
    "url",
    ["sqlite:///{tmp}/no-schema.sqlite3", "postgresql://postgres@127.0.0.1:9/leadloop"],
    ids=["no schema", "server unreachable"],
)
async def test_a_database_that_is_down_is_503_with_retry_after_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    engine = create_engine(url.format(tmp=tmp_path))
    metrics = Metrics()
    graph = GraphClient("http://127.0.0.1:9")
    routers = [
        leads_router(
            sessions=session_factory(engine), max_bytes=MAX_BYTES, metrics=metrics, graph=graph
        ),
        metrics_router(metrics),
    ]
    transport = httpx.ASGITransport(app=create_app(routers=routers))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        posted = await http.post("/webhooks/leads/site", content=lead_json("A", "+79161000001"))
        handshake = await http.get(
            "/webhooks/leads/fb", params={"hub.mode": "subscribe", "hub.challenge": "c"}
        )
        unavailable = await counted(http, "unknown", "database_unavailable")
    await engine.dispose()
    assert (posted.status_code, posted.headers["retry-after"]) == (503, "60")
    assert (handshake.status_code, handshake.headers["retry-after"]) == (503, "60")
    assert handshake.json() == {"detail": "the database is unavailable: try again later"}
    assert unavailable == 2
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage().split(": ")[0] for record in errors] == [
        "lead source 'site' not looked up",
        "lead source 'fb' not looked up",
    ]
    assert [record.exc_info for record in errors] == [None, None]  # no traceback


# --- values longer than their columns ------------------------------------------------------


async def test_idempotency_keys_too_long_for_the_column_are_hashed_whole_never_cut(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    shared = "batch-2024-06-01/" + "x" * 220  # alike far beyond the columns' 200 characters

    async def post(name: str, phone: str, key: str) -> httpx.Response:
        headers = {**BEARER, "idempotency-key": key}
        return await client.post(
            "/webhooks/leads/site", content=lead_json(name, phone), headers=headers
        )

    first = await post("Anna", "+79161000001", shared + "-order-1")
    second = await post("Boris", "+79161000002", shared + "-order-2")
    again = await post("Anna", "+79161000001", shared + "-order-1")
    outcomes = [(answer.status_code, answer.json()["outcome"]) for answer in (first, second, again)]
    assert outcomes == [(200, "accepted"), (200, "accepted"), (200, "duplicate")]
    assert [lead.name for lead in await leads_of(session)] == ["Anna", "Boris"]
    keys = await keys_of(session)
    assert len(set(keys)) == 2 and all(len(key) <= 200 for key in keys)
    query = select(WebhookDelivery.idempotency_key).order_by(col(WebhookDelivery.id))
    journalled = (await session.exec(query)).all()
    assert journalled == [keys[0], keys[1], keys[0]]


async def test_form_values_longer_than_their_columns_are_cut_and_the_lead_kept(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    fields = {
        "name": "Anna " + "Maria " * 40,
        "phone": "+7 (912) 345 - 67 - 89" + " ," * 40,  # still a number, typed at length
        "email": "anna@" + "mail." * 60 + "com",  # over the 254 characters mail allows
        "city": "Moscow, " + "Lenina street " * 12,
        "utm_campaign": "spring_sale_" + "x" * 220,
    }
    response = await client.post("/webhooks/leads/site", json=fields, headers=BEARER)
    assert (response.status_code, response.json()["outcome"]) == (200, "accepted")
    [lead] = await leads_of(session)
    assert (lead.phone_e164, lead.email) == ("+79123456789", None)
    lengths = [len(text) for text in (lead.name, lead.phone_raw, lead.region, lead.campaign)]
    assert lengths == [200, 64, 100, 200]
    assert lead.utm_campaign == lead.campaign == fields["utm_campaign"][:200]


async def test_text_no_database_can_hold_is_cleaned_and_the_lead_kept(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    # JSON may carry a NUL (PostgreSQL's text refuses it) or a lone surrogate (not UTF-8).
    body = (
        b'{"id": "evt\\u0000\\ud800", "name": "Anna\\ud800", "phone": "+79123456789",'
        b' "comment": "call\\u0000 me"}'
    )
    answers = [
        await client.post("/webhooks/leads/site", content=body, headers=BEARER) for _ in range(2)
    ]
    assert [(answer.status_code, answer.json()["outcome"]) for answer in answers] == [
        (200, "accepted"),
        (200, "duplicate"),
    ]
    [lead] = await leads_of(session)
    assert lead.name == "Anna?"
    assert await activities_of(session) == [(lead.id, "call me", None)]
    [key] = await keys_of(session)
    assert key.startswith("key-sha256:")


# --- one usable contact is enough ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "email", "note"),
    [
        ({"email": "anna@example.com", "phone": "-"}, "anna@example.com", "phone: -"),
        ({"email": "anna@example.com", "phone": "нет"}, "anna@example.com", "phone: нет"),
        ({"email": "anna@example.com", "phone": "123"}, "anna@example.com", "phone: 123"),
        ({"email": "anna@example.com", "phone": "  "}, "anna@example.com", None),
        ({"phone": "+79123456789", "email": " - ", "comment": "at 6pm"}, None, "at 6pm\nemail: -"),
    ],
)
async def test_one_usable_contact_makes_a_lead_and_the_unusable_one_is_noted_as_typed(
    client: httpx.AsyncClient,
    session: AsyncSession,
    team,
    fields: dict[str, str],
    email: str | None,
    note: str | None,
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = {"name": "Anna", **fields}
    response = await client.post("/webhooks/leads/site", json=body, headers=BEARER)
    assert (response.status_code, response.json()["outcome"]) == (200, "accepted")
    [lead] = await leads_of(session)
    assert (lead.name, lead.email) == ("Anna", email)
    assert await activities_of(session) == ([(lead.id, note, None)] if note else [])
    assert await journal_of(session) == ["accepted"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"phone": "abc"}, "phone"),
        ({"phone": " ", "email": "not-an-address"}, "email"),
        ({"phone": "-", "email": "nope"}, "phone"),
    ],
)
async def test_no_usable_contact_is_422_naming_the_field_and_journalled_rejected(
    client: httpx.AsyncClient, session: AsyncSession, team, fields: dict[str, str], field: str
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = {"name": "Anna", **fields}
    response = await client.post("/webhooks/leads/site", json=body, headers=BEARER)
    assert (response.status_code, response.json()["field"]) == (422, field)
    assert response.json()["error"].startswith("no way to reach the person: ")
    assert await leads_of(session) == []
    assert await journal_of(session) == ["rejected"]


# --- batches keep their good items ---------------------------------------------------------


async def test_a_batch_keeps_its_good_items_and_the_journal_says_which_were_skipped(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "zap", "generic", secret=WHSEC)
    batch = [
        {"name": "A", "phone": "+79161000001"},
        {"name": "B"},
        {"name": "C", "email": "c@example.com"},
        {"name": "D", "phone": "abc"},
    ]
    response = await client.post("/webhooks/leads/zap", json=batch, headers=BEARER)
    leads = await leads_of(session)
    assert [lead.name for lead in leads] == ["A", "C"]
    assert (response.status_code, response.json()["outcome"]) == (200, "accepted")
    assert response.json()["leads"] == [lead.id for lead in leads]
    journal = (await session.exec(select(WebhookDelivery))).one()
    assert (journal.outcome, journal.error) == (
        "accepted",
        "skipped item 2 of 4: no way to reach the person: no phone and no email; "
        "item 4 of 4: no way to reach the person: 'abc' is not a phone number",
    )


async def test_a_batch_without_any_usable_item_is_422_naming_the_field_and_listing_the_items(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "zap", "generic", secret=WHSEC)
    batch = [{"name": "B"}, {"name": "D", "email": "nope"}]
    response = await client.post("/webhooks/leads/zap", json=batch, headers=BEARER)
    assert (response.status_code, response.json()["field"]) == (422, "phone")
    assert await leads_of(session) == []
    journal = (await session.exec(select(WebhookDelivery))).one()
    assert (journal.outcome, journal.error) == (
        "rejected",
        "item 1 of 2: no way to reach the person: no phone and no email; "
        "item 2 of 2: no way to reach the person: 'nope' is not an email address",
    )


# --- a lead without a name -----------------------------------------------------------------


async def test_a_lead_without_a_name_is_offered_under_its_masked_contact(
    client: httpx.AsyncClient,
    bot: BotUnderTest,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    team,
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    for fields in (
        {"phone": "+7 912 345 67 89"},
        {"name": "   ", "email": "lena.secret@example.com"},
    ):
        response = await client.post("/webhooks/leads/site", json=fields, headers=BEARER)
        assert response.status_code == 200
    names = [lead.name for lead in await leads_of(session)]
    assert names == ["+7 912 *** ** 89", "l***@example.com"]
    assert await bot.deliver_pushes(sessions) == 2
    # One push to each of two reps: the two chats are sent to at once, in either order.
    texts = sorted(text_of(call) for call in bot.standin.calls_of("sendMessage"))
    for name, text in zip(sorted(names), texts, strict=True):
        assert text.startswith(f"🔥 New lead: {name}\nSource: site")
        assert "912 345" not in text and "9123456789" not in text and "lena.secret" not in text
