"""The outbox sender end to end: a real aiogram Bot talking HTTP to the Bot API stand-in.

Every test runs against the test database (SQLite, and PostgreSQL in its pass). A controlled
clock decides what is due; pacing is measured on the stand-in's recorded calls, with margins.
"""

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.outbox_sender import OutboxSender
from bot.pacing import Window, backoff
from bot.rendering import Readers, Rendered
from core import outbox
from core.db import create_engine, session_factory
from core.models import OutboxMessage, OutboxStatus, User, utcnow
from leadloop.standin import ApiCall, BotApiStandin
from tests import factories
from tests.faults import refuse

TOKEN = "123456789:TEST-outbox-sender-token"
Sessions = async_sessionmaker[AsyncSession]


class Clock:
    """A clock that stands still until a test moves it (whole seconds, a little ahead)."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0) + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now


class RowText:
    """The test's renderer: the text comes from the row; `skip` means nothing to send."""

    async def readers(self, session: AsyncSession, messages: Sequence[outbox.Due]) -> Readers:
        return {}

    def __call__(self, message: outbox.Due, readers: Readers) -> Rendered | None:
        if message.params.get("skip"):
            return None
        markup = None
        if button := message.params.get("button"):
            row = [InlineKeyboardButton(text=button, callback_data="open")]
            markup = InlineKeyboardMarkup(inline_keyboard=[row])
        return Rendered(message.params["text"], markup)


render = RowText()


def make_bot(base_url: str) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    server = BotApiStandin(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram(standin: BotApiStandin) -> AsyncIterator[Bot]:
    client = make_bot(standin.base_url)
    yield client
    await client.session.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_sender(
    bot: Bot, sessions: Sessions, clock: Clock | None = None, **limits: float
) -> OutboxSender:
    if clock is not None:
        limits["clock"] = clock  # type: ignore[assignment]
    return OutboxSender(bot=bot, sessions=sessions, render=render, **limits)  # type: ignore[arg-type]


async def enqueue(
    sessions: Sessions,
    chat_id: int,
    key: str,
    *,
    recipient_id: int | None = None,
    not_before: datetime | None = None,
    **params: object,
) -> None:
    async with sessions() as session:
        await outbox.enqueue(
            session,
            kind="test",
            chat_id=chat_id,
            params={"text": key, **params},
            dedup_key=key,
            recipient_id=recipient_id,
            not_before=not_before,
        )
        await session.commit()


async def row(sessions: Sessions, key: str) -> OutboxMessage:
    async with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.dedup_key == key)
        return (await session.exec(query)).one()


def sends(standin: BotApiStandin, chat_id: int | None = None) -> list[ApiCall]:
    calls = standin.calls_of("sendMessage")
    return [c for c in calls if chat_id is None or str(c.params["chat_id"]) == str(chat_id)]


async def test_a_row_is_sent_once_and_marked_sent_with_telegrams_message_id(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    await enqueue(sessions, 501, "new-lead", text="<b>New lead</b>", button="Open")
    sender = make_sender(telegram, sessions, clock)

    assert await sender.send_due() == 1

    [call] = sends(standin)
    assert call.ok
    assert str(call.params["chat_id"]) == "501"
    assert call.params["text"] == "<b>New lead</b>"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Open"
    assert standin.chat_messages(501)[-1]["text"] == "New lead"
    sent = await row(sessions, "new-lead")
    assert sent.status == OutboxStatus.SENT
    assert sent.telegram_message_id == call.result["message_id"]
    assert sent.sent_at == clock.now
    assert sent.attempts == 1

    assert await sender.send_due() == 0
    assert len(sends(standin)) == 1


async def test_a_claim_takes_the_earliest_due_rows_and_hands_them_over_in_queued_order(
    sessions: Sessions, clock: Clock
) -> None:
    due_in = {"later": 3, "sooner": 1, "future": 60, "soonest": 0}  # queued in this order
    for key, seconds in due_in.items():
        await enqueue(sessions, 601, key, not_before=clock.now + timedelta(seconds=seconds))
    now = clock.now + timedelta(seconds=5)

    async with sessions() as session:
        claimed = await outbox.claim_due(session, now=now, limit=2)

    assert [due.params["text"] for due in claimed] == ["sooner", "soonest"]
    for key in ("sooner", "soonest"):
        leased = await row(sessions, key)
        assert (leased.attempts, leased.next_attempt_at) == (1, now + outbox.CLAIM_LEASE)
    for key in ("later", "future"):
        assert (await row(sessions, key)).attempts == 0


async def test_a_commit_that_adds_a_row_wakes_the_running_sender(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot
) -> None:
    loop = asyncio.get_running_loop()
    async with make_sender(telegram, sessions, idle_check_seconds=60):
        await asyncio.sleep(0.3)  # it looked, found nothing and sleeps until the idle check
        committed = loop.time()
        await enqueue(sessions, 502, "woken")
        await standin.wait_for_call("sendMessage", timeout=1.0)
        assert loop.time() - committed < 1.0
        for _ in range(50):
            if (await row(sessions, "woken")).status == OutboxStatus.SENT:
                break
            await asyncio.sleep(0.05)
    assert (await row(sessions, "woken")).status == OutboxStatus.SENT


async def test_stop_ends_the_sender_even_when_a_wake_up_comes_at_that_moment(
    sessions: Sessions, telegram: Bot
) -> None:
    # On Python 3.11 asyncio.wait_for swallowed a cancel that met a wake-up: stop() hung.
    for _ in range(3):
        sender = make_sender(telegram, sessions, idle_check_seconds=60)
        sender.start()
        await asyncio.sleep(0.3)  # it looked, found nothing and waits to be woken
        sender.wake()
        await asyncio.wait_for(sender.stop(), 5)


async def test_rows_sent_together_are_each_marked_with_their_own_message_id(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for chat in range(601, 611):
        await enqueue(sessions, chat, f"together-{chat}")
    sender = make_sender(telegram, sessions, clock)

    assert await sender.send_due() == 10

    assert len(sends(standin)) == 10
    for call in sends(standin):
        sent = await row(sessions, call.params["text"])
        assert (sent.status, sent.sent_at) == (OutboxStatus.SENT, clock.now)
        assert sent.telegram_message_id == call.result["message_id"]


async def test_a_message_sent_just_before_a_stop_is_marked_sent(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    """While more messages are on their way, a mark waits a moment to share their write; a
    stop in that moment still records what Telegram has, so that a restart sends it once."""
    for chat in (801, 802, 803):
        await enqueue(sessions, chat, f"stopping-{chat}")
    sender = make_sender(telegram, sessions, clock, global_rate=1)  # the others wait their turn
    sender.start()
    first = await standin.wait_for_call("sendMessage", timeout=2.0)
    await asyncio.wait_for(sender.stop(), 5)

    assert len(sends(standin)) == 1
    sent = await row(sessions, first.params["text"])
    assert (sent.status, sent.telegram_message_id) == (
        OutboxStatus.SENT,
        first.result["message_id"],
    )
    for chat in (801, 802, 803):
        if f"stopping-{chat}" != first.params["text"]:
            assert (await row(sessions, f"stopping-{chat}")).status == OutboxStatus.PENDING


async def test_rows_whose_mark_failed_are_sent_again_when_their_lease_ends(
    sessions: Sessions, session: AsyncSession, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for chat in (701, 702):
        await enqueue(sessions, chat, f"unmarked-{chat}")
    await refuse(session, event="UPDATE", table="outbox", when="NEW.status = 'sent'")
    sender = make_sender(telegram, sessions, clock)

    assert await sender.send_due() == 2  # Telegram has them; the database could not say so
    assert (await row(sessions, "unmarked-701")).status == OutboxStatus.PENDING
    await refuse(session, event="UPDATE", table="outbox", on=False)
    assert await sender.send_due() == 0  # still leased
    clock.now += outbox.CLAIM_LEASE

    assert await sender.send_due() == 2  # at least once: they go out again
    assert len(sends(standin)) == 4
    for key in ("unmarked-701", "unmarked-702"):
        assert (await row(sessions, key)).status == OutboxStatus.SENT


async def test_a_429_postpones_only_that_chats_rows_while_other_chats_are_sent(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for key, chat_id in [("a1", 601), ("b1", 602), ("a2", 601), ("b2", 602)]:
        await enqueue(sessions, chat_id, key)
    standin.fail_next("sendMessage", status=429, retry_after=30, chat_id=601)
    sender = make_sender(telegram, sessions, clock, private_per_second=50)

    assert await sender.send_due() == 2

    assert [c.params["text"] for c in sends(standin, 602)] == ["b1", "b2"]
    assert len(sends(standin, 601)) == 1  # a2 was not tried during the flood wait
    for key in ("a1", "a2"):
        waiting = await row(sessions, key)
        assert waiting.status == OutboxStatus.PENDING
        assert waiting.attempts == 0
        assert waiting.next_attempt_at == clock.now + timedelta(seconds=30)
    assert await sender.send_due() == 0

    clock.now += timedelta(seconds=30)
    assert await sender.send_due() == 2
    assert [c.params["text"] for c in sends(standin, 601) if c.ok] == ["a1", "a2"]


async def test_a_403_marks_the_user_unreachable_and_stops_retrying(
    sessions: Sessions, session: AsyncSession, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    user = await factories.user(session, await factories.team(session))
    assert user.id is not None
    standin.block_chat(user.telegram_id)
    await enqueue(sessions, user.telegram_id, "blocked-1", recipient_id=user.id)
    await enqueue(sessions, user.telegram_id, "blocked-2", recipient_id=user.id)
    await enqueue(sessions, 777, "other-chat")
    sender = make_sender(telegram, sessions, clock)

    assert await sender.send_due() == 1

    assert len(sends(standin, user.telegram_id)) == 1
    for key in ("blocked-1", "blocked-2"):
        failed = await row(sessions, key)
        assert failed.status == OutboxStatus.FAILED
        assert "blocked" in (failed.last_error or "")
    async with sessions() as fresh:
        assert (await fresh.get_one(User, user.id)).reachable is False
    clock.now += timedelta(hours=1)
    assert await sender.send_due() == 0
    assert len(sends(standin, user.telegram_id)) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_network_errors_back_off_exponentially_and_fail_after_max_attempts(
    sessions: Sessions, clock: Clock
) -> None:
    await enqueue(sessions, 503, "unlucky")
    dead = make_bot(f"http://127.0.0.1:{closed_port()}")
    sender = make_sender(dead, sessions, clock, private_per_second=50)
    delays = []
    try:
        for attempt in range(1, outbox.MAX_ATTEMPTS):
            assert await sender.send_due() == 0
            waiting = await row(sessions, "unlucky")
            assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, attempt)
            assert TOKEN not in (waiting.last_error or "")
            delays.append(waiting.next_attempt_at - clock.now)
            assert await sender.send_due() == 0  # not due before its backoff has passed
            clock.now = waiting.next_attempt_at
        assert await sender.send_due() == 0
    finally:
        await dead.session.close()

    assert delays == [backoff(n) for n in range(1, outbox.MAX_ATTEMPTS)]
    assert all(later == 2 * earlier for earlier, later in itertools.pairwise(delays))
    failed = await row(sessions, "unlucky")
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, outbox.MAX_ATTEMPTS)
    assert failed.last_error


async def test_a_server_error_is_retried_later_and_a_bad_request_is_given_up(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    await enqueue(sessions, 504, "server-error")
    await enqueue(sessions, 505, "bad-request")
    await enqueue(sessions, 505, "fine")
    standin.fail_next("sendMessage", status=502, chat_id=504)
    standin.fail_next("sendMessage", status=400, description="Bad Request: no", chat_id=505)
    sender = make_sender(telegram, sessions, clock, private_per_second=50)

    assert await sender.send_due() == 1

    retried = await row(sessions, "server-error")
    assert retried.status == OutboxStatus.PENDING
    assert retried.next_attempt_at == clock.now + backoff(1)
    bad = await row(sessions, "bad-request")
    assert (bad.status, bad.attempts) == (OutboxStatus.FAILED, 1)
    assert (await row(sessions, "fine")).status == OutboxStatus.SENT  # the chat went on


async def test_a_slow_chat_is_paced_while_other_chats_go_at_once(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for key, chat_id in [("p1", 701), ("p2", 701), ("p3", 701), ("q", 702), ("r", 703)]:
        await enqueue(sessions, chat_id, key)
    await enqueue(sessions, -100704, "group")
    sender = make_sender(telegram, sessions, clock, private_per_second=1)

    assert await sender.send_due() == 6

    slow = sends(standin, 701)
    assert [c.params["text"] for c in slow] == ["p1", "p2", "p3"]
    others = [c for c in sends(standin) if str(c.params["chat_id"]) != "701"]
    assert len(others) == 3
    assert all(c.at < slow[1].at for c in others)
    assert max(c.at for c in others) - slow[0].at < timedelta(seconds=0.8)
    assert slow[2].at - slow[0].at >= timedelta(seconds=1.7)


async def test_a_few_pushes_to_different_chats_go_out_at_once(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for chat in range(901, 906):
        await enqueue(sessions, chat, f"burst-{chat}")
    sender = make_sender(telegram, sessions, clock)  # Telegram's 30 a second

    assert await sender.send_due() == 5

    times = [call.at for call in sends(standin)]
    assert max(times) - min(times) < timedelta(seconds=0.1)  # not one every 33 ms


async def test_the_bots_pace_is_never_more_than_its_rate_in_any_second() -> None:
    window = Window(30)
    loop = asyncio.get_running_loop()
    start = loop.time()
    times = []
    for _ in range(40):
        await window.acquire()
        times.append(loop.time() - start)

    assert times[4] < 0.05  # a sixth of a second's messages at once
    assert times[5] >= 1 / 6 - 0.01
    assert max(sum(1 for t in times if at <= t < at + 1) for at in times) <= 30
    assert times[-1] < 1.5  # and the rate itself kept up


async def test_rows_beyond_what_a_chat_can_send_within_the_lease_are_handed_back(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    # One message per 10 s: a 60 s lease covers only one of them safely.
    for key in ("s1", "s2", "s3"):
        await enqueue(sessions, 801, key)
    sender = make_sender(telegram, sessions, clock, private_per_second=0.1)

    assert await sender.send_due() == 1

    assert [c.params["text"] for c in sends(standin)] == ["s1"]
    for key in ("s2", "s3"):
        back = await row(sessions, key)
        assert (back.status, back.attempts) == (OutboxStatus.PENDING, 0)
        assert back.next_attempt_at == clock.now + timedelta(seconds=10)


async def test_a_render_that_returns_none_gives_the_row_up_without_calling_telegram(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    await enqueue(sessions, 506, "nothing", skip=True)
    sender = make_sender(telegram, sessions, clock)

    assert await sender.send_due() == 0

    assert sends(standin) == []
    given_up = await row(sessions, "nothing")
    assert (given_up.status, given_up.attempts) == (OutboxStatus.FAILED, 1)
    assert given_up.last_error == "nothing to send"
    assert await sender.send_due() == 0


class ReadingRowText(RowText):
    """Reads from the database before rendering, as `PushRenderer` reads the readers."""

    async def readers(self, session: AsyncSession, messages: Sequence[outbox.Due]) -> Readers:
        await session.exec(select(OutboxMessage.id).limit(1))
        return {}


async def test_rows_whose_readers_cannot_be_read_are_retried_later_unsent(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    await enqueue(sessions, 507, "first")
    await enqueue(sessions, 508, "second")
    away = create_engine(f"postgresql://u@127.0.0.1:{closed_port()}/x")
    sender = OutboxSender(
        bot=telegram,
        sessions=sessions,
        render=ReadingRowText(),
        reads=session_factory(away),
        clock=clock,
    )
    try:
        assert await sender.send_due() == 0
    finally:
        await away.dispose()

    assert sends(standin) == []
    for key in ("first", "second"):
        waiting = await row(sessions, key)
        assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, 1)
        assert waiting.next_attempt_at == clock.now + backoff(1)
    clock.now += backoff(1)
    assert await make_sender(telegram, sessions, clock).send_due() == 2


async def test_chat_pacing_states_are_kept_in_a_bounded_dict(
    sessions: Sessions, standin: BotApiStandin, telegram: Bot, clock: Clock
) -> None:
    for chat_id in (901, 902, 903, 904):
        await enqueue(sessions, chat_id, f"chat-{chat_id}")
    sender = make_sender(telegram, sessions, clock)
    sender.max_chats = 2

    assert await sender.send_due() == 4
    await enqueue(sessions, 905, "chat-905")
    assert await sender.send_due() == 1

    assert list(sender._lanes) == [904, 905]  # the least recently used idle chats went
