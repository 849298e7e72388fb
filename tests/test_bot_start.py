"""/start, invitations and strangers, through the real dispatcher and the Bot API stand-in."""

from datetime import timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import users
from core.models import AuditEntry, User, utcnow
from tests import factories
from tests.botkit import BotUnderTest


async def test_a_member_is_greeted_by_name_role_and_team(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    rep = await factories.user(session, team, name="Anna")
    reply = await bot.say(rep.telegram_id, "/start")
    assert reply.response["result"]["text"] == (
        "Hello, Anna! You are signed in to LeadLoop as sales rep of Alpha."
    )
    assert reply.params["parse_mode"] == "HTML"


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("ru", "Здравствуйте, Anna! Вы вошли в LeadLoop как менеджер по продажам команды Alpha."),
        ("zh-hans", "你好，Anna！你已作为 Alpha 的销售代表登录 LeadLoop。"),
        ("zh-CN", "你好，Anna！你已作为 Alpha 的销售代表登录 LeadLoop。"),
        ("de", "Hello, Anna! You are signed in to LeadLoop as sales rep of Alpha."),
    ],
)
async def test_the_greeting_follows_telegrams_language(
    bot: BotUnderTest, session: AsyncSession, language_code: str, expected: str
) -> None:
    team = await factories.team(session, "Alpha")
    rep = await factories.user(session, team, name="Anna")
    reply = await bot.say(rep.telegram_id, "/start", language_code=language_code)
    assert reply.response["result"]["text"] == expected


async def test_without_a_telegram_language_the_team_language_applies(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha", locale="ru")
    rep = await factories.user(session, team, name="Anna")
    reply = await bot.say(rep.telegram_id, "/start", language_code=None)
    assert reply.response["result"]["text"].startswith("Здравствуйте, Anna!")


async def test_names_are_escaped_and_shown_literally(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "<i>Alpha</i>")
    rep = await factories.user(session, team, name="<b>x</b> & *y*")
    reply = await bot.say(rep.telegram_id, "/start")
    assert "<b>&lt;b&gt;x&lt;/b&gt; &amp; *y*</b>" in reply.params["text"]
    assert reply.response["result"]["text"].startswith("Hello, <b>x</b> & *y*! ")
    assert reply.response["result"]["text"].endswith("of <i>Alpha</i>.")


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("en", "Sorry, this bot serves members of a sales team only."),
        ("ru", "Извините, этот бот работает только для сотрудников отдела продаж."),
        ("zh", "抱歉，此机器人仅供销售团队成员使用。"),
    ],
)
async def test_a_stranger_is_refused_politely_in_their_language(
    bot: BotUnderTest, language_code: str, expected: str
) -> None:
    for text in ("/start", "/leads", "show me everything"):
        reply = await bot.say(9_999, text, language_code=language_code)
        assert reply.response["result"]["text"].startswith(expected)
        assert "reply_markup" not in reply.params


async def test_an_invite_link_binds_the_account_once(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    await factories.team(session, "Alpha")
    invite = await users.create_invite(session, role="manager", team_name="Alpha", now=utcnow())
    reply = await bot.say(5_001, f"/start {invite.token}", first_name="Maria")
    assert reply.response["result"]["text"] == (
        "Hello, Maria! You are signed in to LeadLoop as manager of Alpha."
    )
    member = (await session.exec(select(User).where(User.telegram_id == 5_001))).one()
    assert (member.role, member.display_name) == ("manager", "Maria")
    joined = (await session.exec(select(AuditEntry).where(AuditEntry.action == "join"))).one()
    assert joined.actor_id == member.id

    second = await bot.say(5_002, f"/start {invite.token}", first_name="Eve")
    assert second.response["result"]["text"].startswith("This invitation link is unknown, used")
    assert await users.get_by_telegram_id(session, 5_002) is None


async def test_an_expired_or_forged_invite_is_refused(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    await factories.team(session, "Alpha")
    expired = await users.create_invite(
        session, role="rep", team_name="Alpha", now=utcnow() - timedelta(days=8)
    )
    for token in (expired.token, "forged-token"):
        reply = await bot.say(5_003, f"/start {token}", language_code="ru")
        assert reply.response["result"]["text"].startswith("Эта ссылка-приглашение неизвестна")
    assert await users.get_by_telegram_id(session, 5_003) is None


async def test_a_deactivated_user_is_a_stranger_again(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(session, "Alpha")
    rep = await factories.user(session, team, name="Anna")
    await users.deactivate(session, telegram_id=rep.telegram_id, reassign_to=None, to_pool=True)
    reply = await bot.say(rep.telegram_id, "/start")
    assert reply.response["result"]["text"].startswith("Sorry, this bot serves members")
