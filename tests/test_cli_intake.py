"""The intake and routing commands: `leadloop source|route|deliveries …`, `user set`, `team set`."""

import json
from collections.abc import Iterator

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake, sources
from core.errors import InvalidInput
from core.models import Lead, LeadSource, RoutingRule, Team, User, WebhookDelivery, utcnow
from tests.cli import leadloop, query, seed, use_database
from tests.intakekit import sample

WHSEC = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="


@pytest.fixture(autouse=True)
def database(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[str]:
    url = use_database(database_url, monkeypatch, tmp_path)
    leadloop("team", "add", "Alpha")
    for telegram_id, name in ((111, "Ann"), (222, "Bob")):
        leadloop(
            "user", "add", "--telegram-id", str(telegram_id), "--role", "rep", "--team", "Alpha",
            "--name", name,
        )  # fmt: skip
    yield url


def test_source_add_prints_the_endpoint_and_list_shows_its_settings(database: str) -> None:
    result = leadloop(
        "source", "add", "site", "--kind", "generic", "--team", "Alpha", "--secret", WHSEC,
        "--map", "phone=contact.tel", "--tag", "web", "--campaign", "spring",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "/webhooks/leads/site\n"
    assert "source 'site' (generic) created" in result.stderr
    listing = leadloop("source", "list")
    assert listing.stdout == (
        "site\tgeneric\t/webhooks/leads/site\tsecret=set tags=web campaign=spring "
        "map=phone=contact.tel rate=20/s burst=500\n"
    )
    assert WHSEC not in listing.stdout


def test_source_set_adds_mappings_and_tags_and_changes_the_rest(database: str) -> None:
    leadloop("source", "add", "form", "--kind", "tilda", "--team", "Alpha", "--tag", "web")
    result = leadloop(
        "source", "set", "form", "--map", "name=Name", "--tag", "promo", "--rate", "5",
        "--burst", "50", "--secret", "tilda-key",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "form\ttilda\t/webhooks/leads/form\tsecret=set tags=promo,web campaign=- "
        "map=name=Name rate=5/s burst=50\n"
    )
    [source] = query(database, select(LeadSource))
    assert (source.secret, source.tags, source.rate_per_second) == (
        "tilda-key",
        ["promo", "web"],
        5,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("source", "add", "Bad Name!", "--kind", "generic", "--team", "Alpha"), "a source name"),
        (("source", "add", "s", "--kind", "fax", "--team", "Alpha"), "'fax' is not one of"),
        (("source", "add", "s", "--kind", "tally"), "a source needs --team"),
        (
            ("source", "add", "s", "--kind", "generic", "--team", "Alpha", "--secret", "plain"),
            "a generic source's secret is a Standard Webhooks key",
        ),
        (("source", "set", "nowhere", "--rate", "3"), "no source named 'nowhere'"),
        (
            ("source", "add", "s", "--kind", "tilda", "--team", "Alpha", "--rate", "inf"),
            "error: rate must be a number from 0.001 to 1000000\n",
        ),
        (
            ("source", "add", "s", "--kind", "tilda", "--team", "Alpha", "--rate", "nan"),
            "rate must be a number from",
        ),
        (
            ("source", "add", "s", "--kind", "tilda", "--team", "Alpha", "--burst", "0"),
            "burst must be a number from",
        ),
    ],
)
def test_source_commands_refuse_bad_input_in_one_line(
    database: str, args: tuple[str, ...], message: str
) -> None:
    result = leadloop(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert query(database, select(LeadSource)) == []


def test_route_add_list_and_remove(database: str) -> None:
    first = leadloop(
        "route", "add", "--team", "Alpha", "--match", "source=site", "--strategy", "to-user",
        "--user", "222",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    second = leadloop(
        "route", "add", "--team", "Alpha", "--match", "profile.city=Kazan",
        "--strategy", "least-loaded",
    )  # fmt: skip
    [first_id, second_id] = query(database, select(RoutingRule.id).order_by(col(RoutingRule.id)))
    assert (first.stdout, second.stdout) == (
        f"rule {first_id} added\n",
        f"rule {second_id} added\n",
    )
    assert leadloop("route", "list", "--team", "Alpha").stdout == (
        f"{first_id}\tsource=site\tto-user -> Bob (222)\n"
        f"{second_id}\tprofile.city=Kazan\tleast-loaded\n"
        "default\tevery lead\tround-robin over active reps on shift\n"
    )
    removed = leadloop("route", "remove", str(first_id))
    assert removed.stdout == f"rule {first_id} removed\n"
    assert query(database, select(RoutingRule.id)) == [second_id]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "lottery"), "'lottery' is not one of"),
        (("--strategy", "to-user"), "the to-user strategy needs --user"),
        (("--strategy", "to-user", "--user", "999"), "no user with Telegram id 999"),
        (("--strategy", "round-robin", "--match", "colour=red"), "colour"),
    ],
)
def test_route_add_refuses_bad_rules_in_one_line(
    database: str, args: tuple[str, ...], message: str
) -> None:
    result = leadloop("route", "add", "--team", "Alpha", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert query(database, select(RoutingRule)) == []


def test_user_set_weight_cap_and_shift(database: str) -> None:
    result = leadloop("user", "set", "111", "--weight", "2", "--max-open-leads", "5", "--off-shift")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ann: weight=2 max-open-leads=5 on-shift=False\n"
    ann = query(database, select(User).where(User.telegram_id == 111))[0]
    assert (ann.weight, ann.max_open_leads, ann.on_shift) == (2, 5, False)
    cleared = leadloop("user", "set", "111", "--max-open-leads", "0", "--on-shift")
    assert cleared.stdout == "Ann: weight=2 max-open-leads=none on-shift=True\n"


def test_team_set_offer_mode_group_cap_and_cooldown(database: str) -> None:
    result = leadloop(
        "team", "set", "Alpha", "--offer-mode", "group", "--group-chat", "-100777",
        "--max-open-leads", "30", "--reclaim-cooldown", "24h",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "offer-mode=group group-chat=-100777 max-open-leads=30 reclaim-cooldown=1d" in (
        result.stdout
    )
    [team] = query(database, select(Team))
    assert (team.offer_mode, team.group_chat_id, team.max_open_leads) == ("group", -100777, 30)
    assert team.reclaim_cooldown_seconds == 24 * 3600


def _reject_one(database: str) -> int:
    """A form whose phone field the source's mapping does not know: journalled as rejected."""
    leadloop("source", "add", "site", "--kind", "generic", "--team", "Alpha", "--secret", WHSEC)
    body = json.dumps({"name": "Анна", "whatsapp": "+7 912 345-67-89"}).encode()
    return _reject(database, "site", body)


def _reject(database: str, source_name: str, body: bytes) -> int:
    """Deliver `body` to the source, which refuses it; the journal id of the rejected delivery."""

    async def deliver(session: AsyncSession) -> int:
        async with AsyncSession(session.bind) as lookup:  # as the webhook route does
            source, team = await sources.source_and_team(lookup, source_name)
        with pytest.raises(InvalidInput):
            await intake.receive(
                session,
                source=source,
                team=team,
                headers={"content-type": "application/json"},
                body=body,
                now=utcnow(),
            )
        journal = await session.exec(
            select(WebhookDelivery).where(WebhookDelivery.outcome == "rejected")
        )
        return journal.one().id or 0

    return seed(database, deliver)


def test_deliveries_replay_after_fixing_the_mapping_creates_the_lead(database: str) -> None:
    rejected = _reject_one(database)
    leadloop("source", "set", "site", "--map", "phone=whatsapp")
    result = leadloop("deliveries", "replay", str(rejected))
    assert result.exit_code == 0, result.output
    [lead] = query(database, select(Lead))
    assert result.stdout == f"delivery {rejected} replayed: accepted; leads {lead.id}\n"
    assert (lead.name, lead.phone_e164, lead.state) == ("Анна", "+79123456789", "offered")
    outcomes = query(database, select(WebhookDelivery.outcome).order_by(col(WebhookDelivery.id)))
    assert outcomes == ["replayed", "accepted"]  # the replay is journalled as it came in
    again = leadloop("deliveries", "replay", str(rejected))
    assert again.exit_code == 1
    assert again.stderr == f"error: no rejected delivery {rejected}\n"


def test_a_replay_that_still_fails_says_why_and_keeps_the_delivery(database: str) -> None:
    rejected = _reject_one(database)
    result = leadloop("deliveries", "replay", str(rejected))
    assert result.exit_code == 1
    assert result.stderr == "error: no way to reach the person: no phone and no email\n"
    assert "Traceback" not in result.output
    assert query(database, select(Lead)) == []
    rejected_now = query(
        database, select(WebhookDelivery.id).where(WebhookDelivery.outcome == "rejected")
    )
    assert rejected in rejected_now


def test_a_meta_replay_while_the_graph_api_is_down_says_so_in_one_line_and_changes_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    leadloop(
        "source", "add", "fb", "--kind", "meta", "--team", "Alpha", "--secret", "app",
        "--access-token", "page-token",
    )  # fmt: skip
    # Taken in without the Graph API, the leadgen ids alone reach nobody: rejected.
    rejected = _reject(database, "fb", sample("meta_lead_ads", "leadgen")["body_raw"].encode())
    monkeypatch.setenv("LEADLOOP_META_GRAPH_URL", "http://127.0.0.1:9")  # nothing listens
    result = leadloop("deliveries", "replay", str(rejected))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: Graph API: ClientConnectorError; the delivery stays rejected, replay it later\n"
    )
    assert query(database, select(Lead)) == []
    outcomes = query(database, select(WebhookDelivery.outcome))
    assert outcomes == ["rejected"]
