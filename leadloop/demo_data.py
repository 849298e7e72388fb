"""Demo data: a home-renovation team of five and a few hundred believable leads.

Everything is drawn from one random.Random(seed) and the given clock, so a demo or a test sees
the same world every time. Rows go in with add_all and a single flush and commit.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core import sources, teams, users
from core.contacts import normalize_phone
from core.models import Activity, Lead, LeadState, LeadTag, StageChange, Tag, Task, User
from core.pipelines import preset

TEAM = "Demo Renovation"
#: The lead source behind the demo page's web form: a Tilda form, which signs nothing.
WEB_FORM = "website"
TIMEZONE = "America/Los_Angeles"
LEAD_COUNT = 300
TAGS = ("referral", "vip", "repeat", "urgent", "kitchen", "bathroom")


@dataclass(frozen=True)
class Persona:
    """A demo person the page lets a visitor be; the phone is what "share my contact" sends."""

    telegram_id: int
    role: str
    first_name: str
    last_name: str
    phone: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class ContactCard:
    """A customer's contact a persona can forward to the bot."""

    first_name: str
    last_name: str
    phone: str
    note: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


PERSONAS = (
    Persona(1001, "rep", "Anna", "Petrova", "+14152061001"),
    Persona(1002, "rep", "Li", "Wei", "+14152061002"),
    Persona(1003, "rep", "Tom", "Baker", "+14152061003"),
    Persona(1010, "manager", "Maria", "Ivanova", "+14152061010"),
    Persona(1020, "finance", "Oleg", "Sidorov", "+14152061020"),
)
CONTACT_CARDS = (
    ContactCard("Grace", "Kim", "+16502530147", "already a lead of Anna Petrova"),
    ContactCard("Павел", "Орлов", "+14083712290", "a new customer"),
    ContactCard("陈美玲", "", "+15108824316", "a new customer"),
    ContactCard("Jack", "O'Neil", "+19253648802", "a new customer"),
)


@dataclass(frozen=True)
class DemoPeople:
    team: str
    personas: tuple[Persona, ...] = PERSONAS
    contact_cards: tuple[ContactCard, ...] = CONTACT_CARDS
    lead_count: int = 0

    def persona(self, telegram_id: int) -> Persona | None:
        return next((p for p in self.personas if p.telegram_id == telegram_id), None)


def _pairs(text: str) -> list[tuple[str, str]]:
    """ "a:b c:d" -> [("a", "b"), ("c", "d")]: keeps the name tables on a few lines."""
    return [(left, right) for left, _, right in (item.partition(":") for item in text.split())]


_EN = _pairs(
    "James:Smith Emily:Johnson Michael:Miller Sarah:Davis David:Garcia Jessica:Wilson "
    "Robert:Anderson Ashley:Taylor Daniel:Thomas Megan:Moore Chris:Martin Laura:Lee Kevin:Clark "
    "Rachel:Lewis Brian:Walker Olivia:Hall Jason:Young Hannah:King Ryan:Wright Grace:Lopez"
)
# Russian surnames are given in the male form; the female form adds "а".
_RU_MALE = _pairs("Иван:Ivan Дмитрий:Dmitry Сергей:Sergey Алексей:Alexey Андрей:Andrey")
_RU_FEMALE = _pairs("Ольга:Olga Наталья:Natalia Екатерина:Ekaterina Мария:Maria Светлана:Svetlana")
_RU_LAST = _pairs(
    "Смирнов:Smirnov Кузнецов:Kuznetsov Попов:Popov Волков:Volkov Соколов:Sokolov "
    "Морозов:Morozov Лебедев:Lebedev Новиков:Novikov"
)
_ZH_LAST = _pairs("王:Wang 李:Li 张:Zhang 刘:Liu 陈:Chen 杨:Yang 黄:Huang 赵:Zhao 吴:Wu 周:Zhou")
_ZH_GIVEN = _pairs("芳:Fang 伟:Wei 娜:Na 敏:Min 静:Jing 磊:Lei 婷:Ting 强:Qiang 丽:Li 晨:Chen")
_AREAS = _pairs(
    "415:San_Francisco 628:San_Francisco 650:Palo_Alto 408:San_Jose 510:Oakland "
    "925:Walnut_Creek 707:Napa"
)
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me")
_SOURCES = {"tilda": 22, "typeform": 18, "referral": 20, "walk-in": 12, "meta": 28}
_UTM = {
    "tilda": ("google", "cpc", "kitchen_remodel_spring"),
    "typeform": ("google", "cpc", "bathroom_refresh"),
    "meta": ("instagram", "paid_social", "before_after_reels"),
}
_HOUSES = ("apartment", "condo", "townhouse", "single_family")
_STYLES = ("modern", "scandinavian", "farmhouse", "mid_century", "traditional", "industrial")
# How an open lead's stage is distributed: a funnel.
_FUNNEL = (30, 22, 15, 12, 8, 7, 6)
_LOST = (
    "Chose another contractor|Budget too low for the scope|Postponed until next year|"
    "No answer after five attempts|Only wanted a price check"
)
_ACTIVITIES = {
    "call": "Discussed scope and timing|Walked through the estimate|Left a voicemail|"
    "Agreed on a site visit|Answered questions about permits",
    "visit": "Measured the kitchen|Showed tile and cabinet samples|"
    "Checked the bathroom plumbing|Site visit with the designer",
    "chat": "Sent photos of past projects|Shared the draft layout|Sent the price list",
    "meeting": "Presented the design concept|Reviewed the contract draft",
}
_INTENTS = "up|same|down"
_TASKS = (
    "Call back about the estimate|Send the design concept|Confirm the site visit|"
    "Collect the deposit|Send the contract for signature|Follow up on tile choice|"
    "Check the permit status"
)


def _pick(rng: random.Random, choices: str) -> str:
    return rng.choice(choices.split("|"))


@dataclass
class _Plan:
    """One lead with its not-yet-linked children (they get lead_id after the flush)."""

    lead: Lead
    children: list[StageChange | Activity | Task] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)


@dataclass
class _World:
    rng: random.Random
    now: datetime
    team_id: int
    reps: list[User]
    zone: ZoneInfo
    phones: set[str] = field(default_factory=set)

    def between(self, start: datetime, end: datetime) -> datetime:
        return start + (end - start) * self.rng.random()

    def local(self, days: int) -> datetime:
        """A working hour `days` from today in the team's time zone."""
        day = self.now.astimezone(self.zone).date() + timedelta(days=days)
        clock = time(self.rng.randint(9, 18), self.rng.choice((0, 15, 30, 45)))
        return datetime.combine(day, clock, self.zone)


async def seed_demo(
    session: AsyncSession, *, default_locale: str, now: datetime, seed: int = 7
) -> DemoPeople:
    """Create the demo team, its five people and LEAD_COUNT leads with their history."""
    values = {"preset": "home-renovation", "currency": "USD", "country": "US", "timezone": TIMEZONE}
    team = await teams.add_team(session, name=TEAM, values=values, default_locale=default_locale)
    reps = []
    for p in PERSONAS:
        kwargs = {"telegram_id": p.telegram_id, "role": p.role, "name": p.name}
        user = await users.add_user(session, team_name=TEAM, **kwargs)
        if user.role == "rep":
            reps.append(user)
    assert team.id is not None
    web_form = {"team": TEAM, "tags": ["website"], "campaign": "demo_form"}
    await sources.add_source(session, name=WEB_FORM, kind="tilda", values=web_form)
    world = _World(random.Random(seed), now, team.id, reps, ZoneInfo(TIMEZONE))
    plans = [_plan(world, index) for index in range(LEAD_COUNT)]
    tags = {name: Tag(team_id=team.id, name=name) for name in TAGS}
    session.add_all([*tags.values(), *(plan.lead for plan in plans)])
    await session.flush()
    rows: dict[type[SQLModel], list[dict[str, Any]]] = defaultdict(list)
    for plan in plans:
        for child in plan.children:
            child.lead_id = plan.lead.id
            rows[type(child)].append(child.model_dump(exclude={"id"}))
        rows[LeadTag] += [{"lead_id": plan.lead.id, "tag_id": tags[tag].id} for tag in plan.tags]
    for model, values in rows.items():
        # One executemany per table; the ORM would split rows by which columns are None and,
        # on SQLite, insert them one by one to read each id back.
        await session.exec(insert(model.__table__), params=values)  # type: ignore[attr-defined]
    await session.commit()
    return DemoPeople(team=TEAM, lead_count=len(plans))


def _name(rng: random.Random) -> tuple[str, str, str]:
    """(display name, Latin first, Latin last) in an English, Russian or Chinese mix."""
    culture = rng.choices(("en", "ru", "zh"), (50, 25, 25))[0]
    if culture == "en":
        first, last = rng.choice(_EN)[0], rng.choice(_EN)[1]
        return f"{first} {last}", first, last
    if culture == "ru":
        female = rng.random() < 0.5
        first, latin_first = rng.choice(_RU_FEMALE if female else _RU_MALE)
        last, latin_last = rng.choice(_RU_LAST)
        if female:
            last, latin_last = last + "а", latin_last + "a"
        shown = f"{first} {last}" if rng.random() < 0.6 else f"{latin_first} {latin_last}"
        return shown, latin_first, latin_last
    (last, latin_last), (given, latin_given) = rng.choice(_ZH_LAST), rng.choice(_ZH_GIVEN)
    style = rng.random()
    if style < 0.5:
        return last + given, latin_given, latin_last
    if style < 0.75:
        return f"{latin_given} {latin_last}", latin_given, latin_last
    english = rng.choice(_EN)[0]  # many Chinese-Americans go by an English first name
    return f"{english} {latin_last}", english, latin_last


def _phone(world: _World) -> tuple[str, str, str]:
    """(raw as typed, E.164, city): mostly Bay Area numbers, a few Russian and Chinese mobiles."""
    rng = world.rng
    while True:
        area, city = rng.choice(_AREAS)
        exchange, line = rng.randint(201, 989), rng.randint(0, 9999)
        abroad = rng.random()
        if abroad < 0.04:
            raw = f"+7 9{rng.randint(10, 99)} {exchange}-{line // 100:02}-{line % 100:02}"
        elif abroad < 0.08:
            raw = f"+86 13{rng.randint(0, 9)} {rng.randint(1000, 9999)} {line:04}"
        else:
            formats = ("({}) {}-{:04}", "{}-{}-{:04}", "+1 {} {} {:04}", "{}.{}.{:04}")
            raw = rng.choice(formats).format(area, exchange, line)
        phone = normalize_phone(raw, "US")
        # 555 exchanges are fictional even where phonenumbers accepts them.
        if phone.valid and exchange != 555 and phone.e164 not in world.phones:
            world.phones.add(phone.e164)
            return phone.raw, phone.e164, city.replace("_", " ") + ", CA"


def _lead(world: _World, index: int, state: LeadState, created: datetime) -> Lead:
    rng = world.rng
    name, first, last = _name(rng)
    raw, e164, region = _phone(world)
    if index == 0:  # the first contact card is an existing lead, to show duplicate detection
        card = CONTACT_CARDS[0]
        first, last, name = card.first_name, card.last_name, card.name
        raw, e164, region = "(650) 253-0147", card.phone, "Palo Alto, CA"
    source = rng.choices(list(_SOURCES), list(_SOURCES.values()))[0]
    budget = Decimal(rng.randrange(8_000, 150_000, 500))
    lead = Lead(team_id=world.team_id, name=name, state=state, stage="", created_at=created)
    lead.phone_raw, lead.phone_e164, lead.region, lead.source = raw, e164, region, source
    lead.budget, lead.budget_currency = budget, "USD"
    if rng.random() < 0.4:
        number = rng.choice(("", str(rng.randint(1, 99))))
        lead.email = f"{first}.{last}{number}@{rng.choice(_DOMAINS)}".lower()
    if source in _UTM:
        lead.utm_source, lead.utm_medium, lead.utm_campaign = _UTM[source]
        lead.campaign = lead.utm_campaign
    lead.profile = {
        "house_type": rng.choice(_HOUSES),
        "area": rng.randrange(400, 4000, 50),
        "style": rng.choice(_STYLES),
        "budget": str(budget),
    }
    return lead


def _plan(world: _World, index: int) -> _Plan:
    rng, now = world.rng, world.now
    stages = preset("home-renovation").stages
    if index in (1, 2):  # just offered to a rep: the claim clock is running
        state, created = LeadState.OFFERED, now - timedelta(minutes=2 + index)
    elif index == 0:  # Grace Kim, the first contact card: Anna's customer for three weeks
        state, created = LeadState.OWNED, now - timedelta(days=21)
    else:
        state = rng.choices([LeadState.POOL, LeadState.OWNED, LeadState.ARCHIVED], (15, 68, 17))[0]
        created = now - timedelta(minutes=rng.randint(30, 60 * 24 * 60))
    plan = _Plan(_lead(world, index, state, created))
    lead = plan.lead
    plan.children.append(StageChange(from_stage=None, to_stage=stages[0], at=created))
    if state == LeadState.POOL:
        lead.stage = stages[0]
        return plan
    owner = world.reps[0] if index == 0 else rng.choices(world.reps, (40, 35, 25))[0]
    lead.owner_id = owner.id
    if state == LeadState.OFFERED:
        lead.stage, lead.offered_at = stages[0], created
        lead.claim_deadline = created + timedelta(minutes=15)
        return plan
    _work(world, plan, owner, stages)
    return plan


def _work(world: _World, plan: _Plan, owner: User, stages: tuple[str, ...]) -> None:
    """An owned or archived lead's stage moves, calls and visits, tasks and tags."""
    rng, lead, now = world.rng, plan.lead, world.now
    archived = lead.state == LeadState.ARCHIVED
    funnel = _FUNNEL[:-1] if archived else _FUNNEL  # a paid lead is never lost
    reached = rng.choices(range(len(funnel)), funnel)[0]
    lead.stage = stages[reached]
    lead.claimed_at = min(lead.created_at + timedelta(minutes=rng.randint(2, 120)), now)
    moves = sorted(world.between(lead.claimed_at, now) for _ in range(reached))
    for step, at in enumerate(moves, start=1):
        move = StageChange(from_stage=stages[step - 1], to_stage=stages[step], at=at)
        move.actor_id = owner.id
        plan.children.append(move)
    count = reached + rng.randint(0, 2)
    touches = sorted(world.between(lead.claimed_at, now) for _ in range(count))
    for at in touches:
        channel = rng.choices(list(_ACTIVITIES), (50, 25, 15, 10))[0]
        activity = Activity(actor_id=owner.id, channel=channel, created_at=at)
        activity.summary, activity.intent = _pick(rng, _ACTIVITIES[channel]), _pick(rng, _INTENTS)
        plan.children.append(activity)
    lead.last_touch_at = touches[-1] if touches else None
    if reached:
        lead.grade = "A" if reached >= 4 else rng.choice("ABC")
        lead.score = min(100, reached * 14 + rng.randint(0, 15))
    _tasks(world, plan, owner, open_task=not archived and lead.stage != stages[-1])
    if archived:
        lead.lost_reason = _pick(rng, _LOST)
    _tags(world, plan)


def _tasks(world: _World, plan: _Plan, owner: User, *, open_task: bool) -> None:
    rng, lead, now = world.rng, plan.lead, world.now
    assert lead.claimed_at is not None
    for _ in range(rng.randint(0, 2)):
        due = world.between(lead.claimed_at, now)
        done = min(due + timedelta(hours=rng.randint(-3, 20)), now)
        task = Task(assignee_id=owner.id, title=_pick(rng, _TASKS), due_at=due)
        task.done_at, task.created_at = max(done, lead.claimed_at), lead.claimed_at
        plan.children.append(task)
    if not open_task:
        return
    old_enough = now - lead.claimed_at > timedelta(days=3)
    bucket = rng.choices(("overdue", "today", "future"), (25 if old_enough else 0, 20, 55))[0]
    due = world.local(
        {"overdue": -rng.randint(1, 2), "today": 0, "future": rng.randint(1, 14)}[bucket]
    )
    created = min(lead.last_touch_at or lead.claimed_at, due)
    task = Task(assignee_id=owner.id, title=_pick(rng, _TASKS), due_at=due, created_at=created)
    plan.children.append(task)
    lead.next_action_at = due


def _tags(world: _World, plan: _Plan) -> None:
    rng, lead = world.rng, plan.lead
    if lead.source == "referral":
        plan.tags.add("referral")
    if lead.budget is not None and lead.budget >= 100_000:
        plan.tags.add("vip")
    for tag, chance in (("repeat", 0.08), ("urgent", 0.1), ("kitchen", 0.3), ("bathroom", 0.25)):
        if rng.random() < chance:
            plan.tags.add(tag)
