"""The everyday flows in Russian and Simplified Chinese: texts, buttons, money and dates."""

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models import Activity, Lead
from tests import factories
from tests.botkit import BotUnderTest, button_texts, text_of

ZH = "zh-hans"


async def test_a_chinese_rep_enters_a_lead_and_logs_a_follow_up_in_chinese(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(
        session, "Huadong", country="CN", timezone="Asia/Shanghai", currency="CNY"
    )
    li = await factories.user(session, team, name="Li")
    uid = li.telegram_id
    saved = await bot.say(uid, "/new 王芳 138 0013 8000 budget 2m #转介绍", language_code=ZH)
    assert text_of(saved) == "✅ 线索已保存。"
    assert button_texts(saved) == ["➕ 新线索", "📋 线索", "📅 今天", "🔎 查找", "❓ 帮助"]
    lead = (await session.exec(select(Lead).where(Lead.name == "王芳"))).one()
    assert (lead.phone_e164, lead.budget_currency) == ("+8613800138000", "CNY")

    card = await bot.say(uid, f"/lead {lead.id}", language_code=ZH)
    assert "阶段：初次接触 · 跟进中" in text_of(card)
    assert "预算：¥2,000,000.00" in text_of(card)
    assert button_texts(card)[:4] == ["📝 跟进", "➡️ 阶段", "🏷 标签", "⏰ 任务"]
    channels = await bot.press(uid, card, "跟进", language_code=ZH)
    assert text_of(channels) == "📝 与 王芳 的跟进：通过什么方式沟通？"
    assert button_texts(channels) == ["📞 电话", "🏠 拜访", "💬 聊天", "🤝 会面", "◀ 返回"]
    await bot.press(uid, channels, "电话", language_code=ZH)
    intent = await bot.say(uid, "客户想看样板间", language_code=ZH)
    assert button_texts(intent) == ["⬆️ 升温", "➡️ 不变", "⬇️ 降温", "◀ 返回"]
    await bot.press(uid, intent, "升温", language_code=ZH)
    due = await bot.say(uid, "发送报价", language_code=ZH)
    assert button_texts(due) == ["1 小时后", "明天 10:00", "3 天后", "📅 选择日期", "◀ 返回"]
    done = await bot.press(uid, due, "明天", language_code=ZH)
    assert text_of(done).startswith("✅ 跟进已记录。下一步：发送报价，")
    assert "最近跟进：📞 电话" in text_of(done)
    activity = (await session.exec(select(Activity).where(Activity.lead_id == lead.id))).one()
    assert (activity.summary, activity.intent) == ("客户想看样板间", "up")


async def test_a_russian_team_reads_its_agenda_and_lists_in_russian(
    bot: BotUnderTest, session: AsyncSession
) -> None:
    team = await factories.team(
        session, "Alpha", country="RU", timezone="Europe/Moscow", currency="RUB", locale="ru"
    )
    anna = await factories.user(session, team, name="Анна")
    await factories.lead(session, team, owner=anna, name="Лена", budget="1500000")
    today = await bot.say(anna.telegram_id, "/today", language_code=None)
    assert text_of(today).splitlines()[1:] == ["На сегодня дел нет. /leads покажет все ваши лиды."]
    assert text_of(today).startswith("📅 Сегодня, ")
    listing = await bot.say(anna.telegram_id, "📋 Лиды", language_code=None)
    assert text_of(listing).startswith("📋 Ваши лиды: 1 лид\n")
    assert button_texts(listing) == [
        "Лена · Первый контакт",
        "Этап",
        "Тег",
        "Класс",
        "Без касаний",
        "🗃 Потерянные",
    ]
    card = await bot.press(anna.telegram_id, listing, "Лена", language_code=None)
    assert "Бюджет: 1 500 000,00 ₽" in text_of(card).replace("\xa0", " ")
