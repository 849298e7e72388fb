"""The demo: its seeded world, and the page's JSON endpoints against a running stand-in."""

import asyncio
import itertools
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.contacts import normalize_phone
from core.models import Activity, Lead, LeadSource, LeadState, StageChange, Task, User
from core.pipelines import preset
from leadloop.demo_data import PERSONAS, TEAM, TIMEZONE, WEB_FORM, DemoPeople, seed_demo
from leadloop.demo_page import demo_router
from leadloop.standin import BotApiStandin, tiny_png

NOW = datetime(2026, 3, 18, 16, 30, tzinfo=UTC)
TOKEN = "100000001:DEMO-token-for-the-page-tests"
ANNA = 1001
ZONE = ZoneInfo(TIMEZONE)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


async def test_seed_demo_creates_the_people_and_a_varied_book(session: AsyncSession) -> None:
    people = await seed_demo(session, default_locale="en", now=NOW)

    staff = (await session.exec(select(User))).all()
    assert {(u.telegram_id, u.role, u.display_name) for u in staff} == {
        (p.telegram_id, p.role, p.name) for p in PERSONAS
    }
    leads = (await session.exec(select(Lead))).all()
    assert people.team == TEAM and people.lead_count == len(leads) >= 250
    assert {lead.state for lead in leads} == set(LeadState)
    assert {lead.stage for lead in leads} == set(preset("home-renovation").stages)
    for lead in leads:
        assert lead.phone_raw and lead.phone_e164 and E164.match(lead.phone_e164)
        phone = normalize_phone(lead.phone_raw, "US")
        assert (phone.e164, phone.valid) == (lead.phone_e164, True)
        assert isinstance(lead.budget, Decimal) and lead.budget_currency == "USD"
        assert NOW - timedelta(days=61) < lead.created_at < NOW
        assert (lead.owner_id is None) == (lead.state == LeadState.POOL)
        assert (lead.lost_reason is not None) == (lead.state == LeadState.ARCHIVED)
    assert len({lead.phone_e164 for lead in leads}) == len(leads)
    names = " ".join(lead.name for lead in leads)
    assert re.search("[А-я]", names) and re.search("[\u4e00-\u9fff]", names)
    assert {lead.source for lead in leads} == {"tilda", "typeform", "referral", "walk-in", "meta"}
    form = (await session.exec(select(LeadSource))).one()
    assert (form.name, form.kind, form.secret, form.tags) == (WEB_FORM, "tilda", None, ["website"])


async def test_seed_demo_history_agrees_with_each_lead(session: AsyncSession) -> None:
    await seed_demo(session, default_locale="en", now=NOW)
    leads = {lead.id: lead for lead in (await session.exec(select(Lead))).all()}
    moves = _by_lead((await session.exec(select(StageChange))).all())
    touches = _by_lead((await session.exec(select(Activity))).all())
    tasks = _by_lead((await session.exec(select(Task))).all())
    stages = preset("home-renovation").stages

    for lead_id, lead in leads.items():
        history = sorted(moves[lead_id], key=lambda move: move.at)
        assert history[0].from_stage is None and history[0].to_stage == stages[0]
        for before, after in itertools.pairwise(history):
            assert after.from_stage == before.to_stage
            assert stages.index(after.to_stage) == stages.index(before.to_stage) + 1
        assert history[-1].to_stage == lead.stage
        assert all(lead.created_at <= move.at <= NOW for move in history)
        last_touch = max((touch.created_at for touch in touches[lead_id]), default=None)
        assert lead.last_touch_at == last_touch
        open_dues = [task.due_at for task in tasks[lead_id] if task.done_at is None]
        assert lead.next_action_at == min(open_dues, default=None)
        if lead.state != LeadState.OWNED:
            assert not open_dues
    open_tasks = [task for group in tasks.values() for task in group if task.done_at is None]
    assert any(task.due_at < NOW - timedelta(days=1) for task in open_tasks)  # overdue
    assert any(task.due_at > NOW + timedelta(days=1) for task in open_tasks)  # later
    today = NOW.astimezone(ZONE).date()
    assert any(task.due_at.astimezone(ZONE).date() == today for task in open_tasks)
    assert any(task.done_at is not None for group in tasks.values() for task in group)


def _by_lead(rows: Any) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.lead_id].append(row)
    return grouped


# ---- the page


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(token=TOKEN, username="leadloop_demo_bot") as running:
        yield running


@pytest.fixture
async def page(standin: BotApiStandin) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(demo_router(standin, DemoPeople(team=TEAM), answer_wait=3.0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        yield client


async def bot_says(standin: BotApiStandin, method: str, **params: Any) -> dict[str, Any]:
    """The bot calling the stand-in's Bot API, as aiogram would."""
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{standin.base_url}/bot{TOKEN}/{method}", json=params)
    assert answer.json()["ok"], answer.json()
    return answer.json()["result"]


async def test_page_and_its_assets_are_served(page: httpx.AsyncClient) -> None:
    index = await page.get("/demo/")
    assert index.status_code == 200 and "<title>LeadLoop demo</title>" in index.text
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert (await page.get("/demo/app.js")).headers["content-type"].startswith("text/javascript")
    assert (await page.get("/demo/style.css")).status_code == 200
    assert (await page.get("/demo/secret.py")).status_code == 404
    setup = (await page.get("/demo/api/setup")).json()
    assert [p["name"] for p in setup["personas"]] == [p.name for p in PERSONAS]
    assert setup["bot"] == {"name": "LeadLoop", "username": "leadloop_demo_bot"}


async def test_sending_text_queues_an_update_from_the_persona(
    page: httpx.AsyncClient, standin: BotApiStandin
) -> None:
    answer = await page.post(f"/demo/api/chats/{ANNA}/text", json={"text": "/start"})
    assert answer.status_code == 200
    [update] = standin.pending_updates
    assert update["update_id"] == answer.json()["update_id"]
    message = update["message"]
    assert message["from"] == {
        "id": ANNA,
        "is_bot": False,
        "first_name": "Anna",
        "last_name": "Petrova",
        "language_code": "en",
    }
    assert message["chat"]["id"] == ANNA and message["text"] == "/start"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert (await page.post("/demo/api/chats/4242/text", json={"text": "hi"})).status_code == 404


async def test_the_chat_is_what_the_stand_in_holds_with_the_reply_keyboard(
    page: httpx.AsyncClient, standin: BotApiStandin
) -> None:
    await page.post(f"/demo/api/chats/{ANNA}/text", json={"text": "/start"})
    keyboard = {
        "keyboard": [["📋 Leads", {"text": "Share phone", "request_contact": True}]],
        "one_time_keyboard": True,
        "input_field_placeholder": "Name and phone",
    }
    await bot_says(
        standin,
        "sendMessage",
        chat_id=ANNA,
        text="Hi <b>Anna</b> & <i>co</i>",
        parse_mode="HTML",
        reply_markup=keyboard,
    )
    chat = (await page.get(f"/demo/api/chats/{ANNA}")).json()
    assert chat["messages"] == standin.chat_messages(ANNA)
    assert chat["messages"][1]["text"] == "Hi Anna & co"
    assert chat["messages"][1]["entities"][0] == {"type": "bold", "offset": 3, "length": 4}
    assert chat["keyboard"]["rows"] == [
        [{"text": "📋 Leads", "kind": "text"}, {"text": "Share phone", "kind": "contact"}]
    ]
    assert chat["keyboard"]["one_time"] and chat["keyboard"]["placeholder"] == "Name and phone"
    await bot_says(
        standin, "sendMessage", chat_id=ANNA, text="Done", reply_markup={"remove_keyboard": True}
    )
    assert (await page.get(f"/demo/api/chats/{ANNA}")).json()["keyboard"] is None


async def test_pressing_a_button_sends_its_callback_and_shows_the_answer(
    page: httpx.AsyncClient, standin: BotApiStandin
) -> None:
    buttons = {"inline_keyboard": [[{"text": "Next stage", "callback_data": "stage:7"}]]}
    card = await bot_says(standin, "sendMessage", chat_id=ANNA, text="Lead", reply_markup=buttons)

    async def bot_answers() -> None:
        """The bot: long-poll for the press, then answer it."""
        [update] = await bot_says(standin, "getUpdates", timeout=5)
        query_id = update["callback_query"]["id"]
        await bot_says(standin, "answerCallbackQuery", callback_query_id=query_id, text="Moved")

    answering = asyncio.create_task(bot_answers())
    pressed = await page.post(
        f"/demo/api/chats/{ANNA}/press", json={"message_id": card["message_id"], "data": "stage:7"}
    )
    await answering
    assert pressed.json() | {"update_id": 0} == {
        "update_id": 0,
        "answered": True,
        "text": "Moved",
        "show_alert": False,
    }
    query = standin.pending_updates[-1]["callback_query"]
    assert query["from"]["id"] == ANNA and query["data"] == "stage:7"
    assert query["message"]["message_id"] == card["message_id"]
    forged = {"message_id": card["message_id"], "data": "delete:all"}
    assert (await page.post(f"/demo/api/chats/{ANNA}/press", json=forged)).status_code == 400


async def test_contacts_are_the_persona_own_or_a_customer_card(
    page: httpx.AsyncClient, standin: BotApiStandin
) -> None:
    await page.post(f"/demo/api/chats/{ANNA}/contact", json={"card": None})
    await page.post(f"/demo/api/chats/{ANNA}/contact", json={"card": 0})
    own, customer = (update["message"]["contact"] for update in standin.pending_updates)
    assert own == {
        "phone_number": "+14152061001",
        "first_name": "Anna",
        "last_name": "Petrova",
        "user_id": ANNA,
    }
    assert customer == {"phone_number": "+16502530147", "first_name": "Grace", "last_name": "Kim"}
    missing = await page.post(f"/demo/api/chats/{ANNA}/contact", json={"card": 99})
    assert missing.status_code == 404


async def test_uploads_become_photos_or_documents_and_files_are_served(
    page: httpx.AsyncClient, standin: BotApiStandin
) -> None:
    picture = tiny_png(40, 30)
    await page.post(
        f"/demo/api/chats/{ANNA}/upload?file_name=room.png&caption=Before",
        content=picture,
        headers={"content-type": "image/png"},
    )
    await page.post(
        f"/demo/api/chats/{ANNA}/upload?file_name=plan.html",
        content=b"<script>x</script>",
        headers={"content-type": "text/html"},
    )
    photo, document = (update["message"] for update in standin.pending_updates)
    assert photo["caption"] == "Before" and photo["from"]["id"] == ANNA
    image = await page.get(f"/demo/api/files/{photo['photo'][-1]['file_id']}")
    assert image.content == picture and image.headers["content-type"] == "image/png"
    assert document["document"]["file_name"] == "plan.html"
    download = await page.get(f"/demo/api/files/{document['document']['file_id']}?name=plan.html")
    assert download.content == b"<script>x</script>"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert (await page.get("/demo/api/files/nope")).status_code == 404
