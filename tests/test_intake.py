"""Lead webhooks end to end through FastAPI: each vendor, each refusal, redelivery, routing."""

import asyncio
import base64
import itertools
import json
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sources
from core.leads import find
from core.models import Activity, LeadOffer, OutboxMessage, User, WebhookDelivery
from tests import factories
from tests.faults import refuse
from tests.intakekit import WHSEC, add_source, leads_of, nothing_stored, sample, standard


async def test_a_generic_lead_is_offered_to_a_rep_once(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC, tags=["web"])
    body = json.dumps(
        {"name": "Анна", "phone": "8 (912) 345-67-89", "comment": "kitchen", "utm_source": "google"}
    ).encode()
    response = await client.post("/webhooks/leads/site", content=body, headers=standard(body))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "accepted"
    again = await client.post("/webhooks/leads/site", content=body, headers=standard(body))
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164, lead.state, lead.source, lead.utm_source) == (
        "Анна",
        "+79123456789",
        "offered",
        "site",
        "google",
    )
    offer = (await session.exec(select(LeadOffer))).one()
    assert offer.user_id == lead.owner_id and offer.outcome == "pending"
    push = (await session.exec(select(OutboxMessage))).one()
    assert (push.kind, push.recipient_id) == ("lead_offer", lead.owner_id)
    journal = (await session.exec(select(WebhookDelivery.outcome))).all()
    assert journal == ["accepted", "duplicate"]
    assert (await session.exec(select(Activity.summary))).all() == ["kitchen"]


async def test_an_untagged_sources_lead_is_written_whole_and_found_by_name(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    # Without tags the lead is routed before its first write and inserted in one statement.
    await add_source(session, "site", "generic", secret=WHSEC, campaign="spring")
    body = json.dumps(
        {"name": "ÉLODIE Durand", "email": "Elodie@Example.com", "utm_medium": "cpc"}
    ).encode()
    response = await client.post("/webhooks/leads/site", content=body, headers=standard(body))
    assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert response.json()["leads"] == [lead.id]
    assert (lead.email, lead.phone_e164, lead.campaign, lead.utm_medium, lead.stage) == (
        "elodie@example.com",
        None,
        "spring",
        "cpc",
        "first_contact",
    )
    assert (lead.state, lead.grade, lead.claim_deadline is not None) == ("offered", "C", True)
    offer = (await session.exec(select(LeadOffer))).one()
    assert (offer.lead_id, offer.user_id) == (lead.id, lead.owner_id)
    manager = (await session.exec(select(User).where(User.role == "manager"))).one()
    assert [found.id for found in await find(session, actor=manager, text="élodie")] == [lead.id]


async def test_refusals_in_their_order(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = json.dumps({"name": "X", "phone": "+79123456789"}).encode()
    assert (await client.post("/webhooks/leads/nope", content=body)).status_code == 404
    huge = b"{" + b" " * (70 * 1024) + b"}"
    assert (
        await client.post("/webhooks/leads/site", content=huge, headers=standard(huge))
    ).status_code == 413
    assert (await client.post("/webhooks/leads/site", content=body)).status_code == 401
    forged = {**standard(body), "webhook-signature": "v1,AAAA"}
    assert (
        await client.post("/webhooks/leads/site", content=body, headers=forged)
    ).status_code == 401
    bad = b"{not json"
    response = await client.post("/webhooks/leads/site", content=bad, headers=standard(bad, "m2"))
    assert response.status_code == 422
    nobody = json.dumps({"name": "No contact"}).encode()
    response = await client.post(
        "/webhooks/leads/site", content=nobody, headers=standard(nobody, "m3")
    )
    assert (response.status_code, response.json()["field"]) == (422, "phone")
    assert await leads_of(session) == []
    journal = (await session.exec(select(WebhookDelivery.outcome))).all()
    assert journal == ["rejected", "rejected"]  # unauthenticated and oversized are not stored
    metrics = (await client.get("/metrics")).text
    assert 'source="site",outcome="unauthenticated"} 2' in metrics


async def test_bearer_secret_batches_and_dedup_by_phone(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "zap", "generic", secret=WHSEC)
    batch = [
        {"name": "A", "phone": "+7 912 345 67 89"},
        {"name": "B", "email": "B@x.ru"},
        {"name": "A again", "phone": "89123456789"},
    ]
    response = await client.post(
        "/webhooks/leads/zap", json=batch, headers={"authorization": f"Bearer {WHSEC}"}
    )
    assert response.status_code == 200, response.text
    names = [lead.name for lead in await leads_of(session)]
    assert names == ["A", "B"]


async def test_a_source_changed_between_deliveries_holds_from_the_next_one(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    """The route keeps the sources it has read; a change made meanwhile, as `leadloop source
    set` makes it, holds from the next delivery on: its team, its mapping, its secret."""
    alpha = team.id
    await add_source(session, "zap", "generic", secret=WHSEC)
    lead = {"name": "Anna", "phone": "+79123456789"}
    first = await client.post("/webhooks/leads/zap", json=lead, headers=_bearer(WHSEC))
    assert first.status_code == 200, first.text
    beta = (await factories.team(session, "Beta")).id
    values = {"team": "Beta", "mapping": ["name=full_name"]}
    await sources.update_source(session, name="zap", values=values)

    moved = {"full_name": "Boris", "phone": "+79001112233"}
    second = await client.post("/webhooks/leads/zap", json=moved, headers=_bearer(WHSEC))

    assert second.status_code == 200, second.text
    assert [(lead.name, lead.team_id) for lead in await leads_of(session)] == [
        ("Anna", alpha),
        ("Boris", beta),
    ]
    rotated, again = (f"whsec_{base64.b64encode(key * 24).decode()}" for key in (b"r", b"s"))
    await sources.update_source(session, name="zap", values={"secret": rotated})
    late = {"full_name": "Vera", "phone": "+79005550000"}
    old = await client.post("/webhooks/leads/zap", json=late, headers=_bearer(WHSEC))
    assert old.status_code == 401
    assert (await client.post("/webhooks/leads/zap", json=late, headers=_bearer(rotated))).json()[
        "outcome"
    ] == "accepted"
    await sources.update_source(session, name="zap", values={"secret": again})
    last = {"full_name": "Gleb", "phone": "+79005550001"}
    newest = await client.post("/webhooks/leads/zap", json=last, headers=_bearer(again))
    assert newest.status_code == 200, newest.text
    assert [lead.name for lead in await leads_of(session)] == ["Anna", "Boris", "Vera", "Gleb"]


async def test_a_source_changing_while_each_delivery_is_read_is_asked_to_deliver_again(
    client: httpx.AsyncClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    team,
    on_graph_fetch: list[Callable[[], Awaitable[None]]],
) -> None:
    """A delivery read while its source changed is read again with the source as stored; if
    it changed again meanwhile (here: while Meta's lead fields were fetched, each time),
    the sender is asked to deliver again and nothing is kept. The redelivery makes the leads."""
    vector = sample("meta_lead_ads", "vector")
    await add_source(session, "fb", "meta", secret=vector["app_secret"], access_token="page-token")
    edits = itertools.count()

    async def edit_source() -> None:
        async with sessions() as other:
            values = {"campaign": f"spring-{next(edits)}"}
            await sources.update_source(other, name="fb", values=values)

    on_graph_fetch.append(edit_source)
    body = sample("meta_lead_ads", "leadgen_notification")["body_raw"].encode()
    headers = {"x-hub-signature-256": vector["X-Hub-Signature-256"]}

    refused = await client.post("/webhooks/leads/fb", content=body, headers=headers)

    assert refused.status_code == 503
    assert refused.headers["retry-after"]
    assert refused.json()["error"] == "the source changed meanwhile; deliver again"
    assert await nothing_stored(session)
    on_graph_fetch.clear()
    again = await client.post("/webhooks/leads/fb", content=body, headers=headers)
    assert again.status_code == 200, again.text
    latest = f"spring-{next(edits) - 1}"
    assert [(lead.name, lead.campaign) for lead in await leads_of(session)] == [
        ("Meta 123", latest),
        ("Meta 124", latest),
    ]


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def test_typeform_sample_with_its_signature(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    vector = sample("typeform", "vector")
    await add_source(session, "tf", "typeform", secret=vector["secret"])
    body = sample("typeform", "form_response")["body_raw"].encode()
    headers = {
        "typeform-signature": vector["Typeform-Signature"],
        "content-type": "application/json",
    }
    response = await client.post("/webhooks/leads/tf", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert (lead.name, lead.email) == ("Laura", "laura@example.com")
    forged = await client.post("/webhooks/leads/tf", content=body + b" ", headers=headers)
    assert forged.status_code == 401


async def test_tally_sample_with_its_signature(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    vector = sample("tally", "vector")
    await add_source(session, "tally", "tally", secret=vector["signing_secret"])
    body = sample("tally", "FORM_RESPONSE")["body_raw"].encode()
    headers = {"tally-signature": vector["Tally-Signature"], "content-type": "application/json"}
    response = await client.post("/webhooks/leads/tally", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert (lead.phone_e164, lead.email, lead.utm_campaign) == (
        "+32491223344",
        "alice@example.com",
        "newsletter",
    )
    missing = await client.post(
        "/webhooks/leads/tally", content=body, headers={"content-type": "application/json"}
    )
    assert missing.status_code == 401


async def test_tilda_connection_test_form_post_and_key(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "tilda", "tilda")
    form = {"content-type": "application/x-www-form-urlencoded"}
    test = await client.post("/webhooks/leads/tilda", content=b"test=test", headers=form)
    assert test.status_code == 200
    assert await leads_of(session) == []
    assert (await session.exec(select(WebhookDelivery))).all() == []  # a test, not a delivery
    body = sample("tilda", "classic_form_lead")["body_raw"].encode()
    response = await client.post("/webhooks/leads/tilda", content=body, headers=form)
    assert response.status_code == 200, response.text
    [lead] = await leads_of(session)
    assert (lead.name, lead.phone_e164, lead.email) == (
        "Иван Иванов",
        "+79999999999",
        "ivan@example.com",
    )
    await sources.update_source(session, name="tilda", values={"secret": "tilda-key"})
    unsigned = await client.post("/webhooks/leads/tilda", content=body, headers=form)
    assert unsigned.status_code == 401
    keyed = await client.post(
        "/webhooks/leads/tilda", content=body, headers={**form, "x-api-key": "tilda-key"}
    )
    assert (keyed.status_code, keyed.json()["outcome"]) == (200, "duplicate")


async def test_meta_handshake_and_leadgen_batch(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    vector = sample("meta_lead_ads", "vector")
    await add_source(
        session,
        "fb",
        "meta",
        secret=vector["app_secret"],
        verify_token="meatyhamhock",
        access_token="page-token",
    )
    query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
    handshake = await client.get(f"/webhooks/leads/fb?{query}")
    assert (handshake.status_code, handshake.text) == (200, "1158201444")
    assert handshake.headers["content-type"].startswith("text/plain")
    wrong = await client.get("/webhooks/leads/fb?hub.mode=subscribe&hub.verify_token=x")
    assert wrong.status_code == 403
    body = sample("meta_lead_ads", "leadgen_notification")["body_raw"].encode()
    headers = {
        "x-hub-signature-256": vector["X-Hub-Signature-256"],
        "content-type": "application/json",
    }
    response = await client.post("/webhooks/leads/fb", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert [lead.name for lead in await leads_of(session)] == ["Meta 123", "Meta 124"]


async def test_a_graph_api_refusal_is_journalled_and_meta_asked_to_deliver_again(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    vector = sample("meta_lead_ads", "vector")
    await add_source(session, "fb", "meta", secret=vector["app_secret"], access_token="expired")
    body = sample("meta_lead_ads", "leadgen_notification")["body_raw"].encode()
    headers = {
        "x-hub-signature-256": vector["X-Hub-Signature-256"],
        "content-type": "application/json",
    }
    response = await client.post("/webhooks/leads/fb", content=body, headers=headers)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"] == "Graph API: ClientResponseError"
    assert await leads_of(session) == []
    journal = (await session.exec(select(WebhookDelivery))).one()
    assert (journal.outcome, journal.error) == ("rejected", "Graph API: ClientResponseError")


async def test_a_known_person_coming_back_is_an_activity_not_a_lead(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    anna = (await session.exec(select(User).where(User.display_name == "Anna"))).one()
    lead = await factories.lead(session, team, owner=anna, name="Known", phone="+79123456789")
    anna_id, lead_id = anna.id, lead.id
    await add_source(session, "site", "generic", secret=WHSEC)
    body = json.dumps(
        {"name": "Known?", "phone": "+7 (912) 345-67-89", "comment": "again"}
    ).encode()
    response = await client.post("/webhooks/leads/site", content=body, headers=standard(body))
    assert response.json()["leads"] == [lead_id]
    assert len(await leads_of(session)) == 1
    push = (await session.exec(select(OutboxMessage))).one()
    assert (push.kind, push.recipient_id, push.params["source"]) == (
        "lead_returned",
        anna_id,
        "site",
    )


async def test_100_parallel_webhooks_for_20_people_make_20_leads_each_offered_once(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    bodies = [
        json.dumps(
            {"name": f"P{n % 20}", "phone": f"+7 916 000 00 {n % 20:02d}", "comment": f"try {n}"}
        ).encode()
        for n in range(100)
    ]
    responses = await asyncio.gather(
        *(
            client.post("/webhooks/leads/site", content=body, headers=standard(body, f"m{n}"))
            for n, body in enumerate(bodies)
        )
    )
    assert {response.status_code for response in responses} == {200}
    leads = await leads_of(session)
    assert len(leads) == 20
    assert all(lead.state == "offered" and lead.owner_id for lead in leads)
    offers = (await session.exec(select(LeadOffer))).all()
    assert sorted(offer.lead_id for offer in offers) == sorted(lead.id for lead in leads)
    journal = (await session.exec(select(WebhookDelivery.outcome))).all()
    assert journal.count("accepted") == 100


async def test_a_write_failing_midway_keeps_neither_journal_nor_lead_and_the_retry_lands(
    client: httpx.AsyncClient, session: AsyncSession, team
) -> None:
    await add_source(session, "site", "generic", secret=WHSEC)
    body = json.dumps({"name": "Vera", "phone": "+7 916 111 22 33"}).encode()
    await refuse(session, event="INSERT", table="outbox")
    failed = await client.post("/webhooks/leads/site", content=body, headers=standard(body, "v1"))
    assert failed.status_code == 503
    assert failed.headers["retry-after"]
    assert failed.json() == {"ok": False, "error": "not stored; deliver again later"}
    session.expire_all()
    assert await leads_of(session) == []
    assert (await session.exec(select(WebhookDelivery))).all() == []

    await refuse(session, event="INSERT", table="outbox", on=False)
    retried = await client.post("/webhooks/leads/site", content=body, headers=standard(body, "v1"))
    assert (retried.status_code, retried.json()["outcome"]) == (200, "accepted")
    [lead] = await leads_of(session)
    assert (lead.name, lead.state) == ("Vera", "offered")
    journal = (await session.exec(select(WebhookDelivery.outcome))).all()
    assert journal == ["accepted"]
    assert len((await session.exec(select(OutboxMessage))).all()) == 1
