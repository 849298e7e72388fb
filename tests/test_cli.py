"""Every `leadloop` command, run as a person types it, against a real database."""

import asyncio
import csv
import io
from collections.abc import Iterator

import openpyxl
import pytest
from sqlmodel import select

from core import migrate
from core.models import AuditEntry, Lead, LeadState, OutboxMessage, Team, User
from leadloop.standin import BotApiStandin
from tests import factories
from tests.cli import leadloop, query, seed, use_database


@pytest.fixture(autouse=True)
def database(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[str]:
    yield use_database(database_url, monkeypatch, tmp_path)


def test_help_lists_every_command() -> None:
    result = leadloop("--help")
    assert result.exit_code == 0
    for command in ("serve", "demo", "db", "team", "user", "source", "route", "deliveries"):
        assert command in result.stdout
    for group, commands in {
        "db": ("upgrade", "downgrade"),
        "team": ("add", "set", "list"),
        "user": ("add", "invite", "deactivate", "list", "set"),
        "source": ("add", "set", "list"),
        "route": ("add", "list", "remove"),
        "deliveries": ("replay",),
        "export": ("leads",),
    }.items():
        result = leadloop(group, "--help")
        assert result.exit_code == 0
        assert all(command in result.stdout for command in commands)


def test_db_upgrade_creates_a_fresh_sqlite_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "new" / "crm.sqlite3"
    monkeypatch.setenv("LEADLOOP_DATABASE_URL", f"sqlite:///{target}")
    result = leadloop("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"database at {migrate.HEAD}" in result.stderr
    assert target.exists()
    result = leadloop("db", "downgrade", "base")
    assert result.exit_code == 0
    assert "database at base" in result.stderr


def test_team_add_uses_defaults_and_options(database: str) -> None:
    result = leadloop("team", "add", "Alpha")
    assert result.exit_code == 0, result.output
    assert "country=US timezone=UTC currency=USD locale=en preset=generic" in result.stdout
    result = leadloop(
        "team",
        "add",
        "Shanghai",
        "--country",
        "CN",
        "--timezone",
        "Asia/Shanghai",
        "--currency",
        "CNY",
        "--locale",
        "zh_Hans",
        "--preset",
        "home-renovation",
    )
    assert result.exit_code == 0, result.output
    team = query(database, select(Team).where(Team.name == "Shanghai"))[0]
    assert (team.country, team.timezone, team.currency, team.locale, team.preset) == (
        "CN",
        "Asia/Shanghai",
        "CNY",
        "zh_Hans",
        "home-renovation",
    )


def test_team_set_changes_every_setting_and_is_audited(database: str) -> None:
    leadloop("team", "add", "Alpha")
    result = leadloop(
        "team",
        "set",
        "Alpha",
        "--claim-window",
        "20m",
        "--digest-time",
        "08:30",
        "--stale-days",
        "14",
        "--manager-chat",
        "-100123",
        "--timezone",
        "Europe/Moscow",
        "--country",
        "ru",
        "--currency",
        "rub",
        "--locale",
        "ru",
        "--preset",
        "real-estate",
        "--name",
        "Alpha Moscow",
    )
    assert result.exit_code == 0, result.output
    assert "claim-window=20m" in result.stdout
    team = query(database, select(Team))[0]
    assert team.name == "Alpha Moscow"
    assert team.claim_window_seconds == 1200
    assert (team.stale_days, team.manager_chat_id, team.country, team.currency) == (
        14,
        -100123,
        "RU",
        "RUB",
    )
    assert str(team.digest_time) == "08:30:00"
    entry = query(database, select(AuditEntry).where(AuditEntry.action == "update"))[0]
    assert entry.before["claim_window_seconds"] == "900"
    assert entry.after["claim_window_seconds"] == "1200"
    assert entry.channel == "cli"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--claim-window", "soon"), "claim-window: 'soon' is not a duration"),
        (("--timezone", "Moon/Base"), "timezone: 'Moon/Base' is not an IANA time zone"),
        (("--currency", "XXXY"), "currency: 'XXXY' is not an ISO 4217 currency"),
        (("--preset", "bakery"), "preset: 'bakery' is not one of the presets"),
        (("--stale-days", "-3"), "stale-days: '-3' is not a whole number above zero"),
        (("--digest-time", "25:00"), "digest-time: '25:00' is not a time of day"),
    ],
)
def test_team_set_refuses_bad_values_and_changes_nothing(
    database: str, args: tuple[str, ...], message: str
) -> None:
    leadloop("team", "add", "Alpha")
    result = leadloop("team", "set", "Alpha", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {message}" or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    team = query(database, select(Team))[0]
    assert team.claim_window_seconds == 900
    assert team.timezone == "UTC"


def test_errors_are_one_line_and_non_zero(database: str) -> None:
    leadloop("team", "add", "Alpha")
    duplicate = leadloop("team", "add", "Alpha")
    assert duplicate.exit_code == 1
    assert duplicate.stderr == "error: a team named 'Alpha' exists already\n"
    missing = leadloop("team", "set", "Nope", "--stale-days", "3")
    assert missing.stderr == "error: no team named 'Nope'\n"
    role = leadloop("user", "add", "--telegram-id", "5", "--role", "boss", "--team", "Alpha")
    assert role.stderr == "error: 'boss' is not a role; use one of rep, manager, finance, admin\n"


def test_commands_on_an_unmigrated_database_say_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LEADLOOP_DATABASE_URL", f"sqlite:///{tmp_path}/empty.sqlite3")
    result = leadloop("team", "list")
    assert result.exit_code == 1
    assert result.stderr == "error: the database has no schema yet: run `leadloop db upgrade`\n"


def test_a_bad_setting_stops_a_command_with_one_line(monkeypatch) -> None:
    monkeypatch.setenv("LEADLOOP_HTTP_PORT", "eighty")
    result = leadloop("team", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: setting LEADLOOP_HTTP_PORT:")
    assert "Traceback" not in result.output


def test_user_add_and_list(database: str) -> None:
    leadloop("team", "add", "Alpha")
    result = leadloop(
        "user", "add", "--telegram-id", "111", "--role", "rep", "--team", "Alpha", "--name", "Ann"
    )
    assert result.exit_code == 0, result.output
    duplicate = leadloop("user", "add", "--telegram-id", "111", "--role", "rep", "--team", "Alpha")
    assert duplicate.stderr == "error: Telegram id 111 is a user already\n"
    listing = leadloop("user", "list")
    assert listing.stdout == "111\tAnn\trep\tAlpha\tactive on-shift\n"


def test_user_invite_prints_a_deep_link_with_the_bot_name(database: str) -> None:
    leadloop("team", "add", "Alpha")
    result = leadloop("user", "invite", "--role", "rep", "--team", "Alpha", "--bot-username", "@b")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://t.me/b?start=")
    assert "single use" in result.stderr


async def test_user_invite_asks_the_bot_api_for_the_bot_username(database: str) -> None:
    await asyncio.to_thread(leadloop, "team", "add", "Alpha")
    async with BotApiStandin(token="42:TEST", username="crm_demo_bot") as standin:
        env = {"TELEGRAM_BOT_TOKEN": "42:TEST", "TELEGRAM_API_BASE": standin.base_url}
        result = await asyncio.to_thread(
            leadloop, "user", "invite", "--role", "manager", "--team", "Alpha", env=env
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://t.me/crm_demo_bot?start=")


def test_user_invite_without_token_or_username_says_so(database: str) -> None:
    leadloop("team", "add", "Alpha")
    result = leadloop("user", "invite", "--role", "rep", "--team", "Alpha")
    assert result.exit_code == 1
    assert "set TELEGRAM_BOT_TOKEN, or give --bot-username" in result.stderr


def _team_with_people(database: str) -> None:
    leadloop("team", "add", "Alpha")
    for telegram_id, role, name in ((1, "rep", "Leaver"), (2, "rep", "Heir"), (3, "manager", "M")):
        leadloop(
            "user",
            "add",
            "--telegram-id",
            str(telegram_id),
            "--role",
            role,
            "--team",
            "Alpha",
            "--name",
            name,
        )

    async def leads(session):
        team = (await session.exec(select(Team))).one()
        leaver = (await session.exec(select(User).where(User.telegram_id == 1))).one()
        for name in ("A", "B"):
            await factories.lead(session, team, owner=leaver, name=name)
        await factories.lead(session, team, owner=leaver, name="Lost", state=LeadState.ARCHIVED)

    seed(database, leads)


def test_deactivate_hands_open_leads_to_a_colleague_who_is_told(database: str) -> None:
    _team_with_people(database)
    result = leadloop("user", "deactivate", "--telegram-id", "1", "--reassign-to", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Leaver deactivated; 2 open leads to Heir\n"
    heir = query(database, select(User).where(User.telegram_id == 2))[0]
    owners = {lead.name: (lead.owner_id, lead.state) for lead in query(database, select(Lead))}
    assert owners["A"] == owners["B"] == (heir.id, "owned")
    assert owners["Lost"][1] == "archived"
    pushes = query(database, select(OutboxMessage))
    assert [(push.kind, push.chat_id) for push in pushes] == [("leads_reassigned", 2)]
    assert pushes[0].params["leaver"] == "Leaver"
    assert "inactive" in leadloop("user", "list").stdout.splitlines()[1]


def test_deactivate_to_the_pool_alerts_the_managers(database: str) -> None:
    _team_with_people(database)
    result = leadloop("user", "deactivate", "--telegram-id", "1", "--to-pool")
    assert result.exit_code == 0, result.output
    states = {lead.name: (lead.owner_id, lead.state) for lead in query(database, select(Lead))}
    assert states["A"] == states["B"] == (None, "pool")
    pushes = query(database, select(OutboxMessage))
    assert [(push.kind, push.chat_id) for push in pushes] == [("leads_to_pool", 3)]


def test_deactivate_needs_exactly_one_destination(database: str) -> None:
    _team_with_people(database)
    neither = leadloop("user", "deactivate", "--telegram-id", "1")
    both = leadloop("user", "deactivate", "--telegram-id", "1", "--reassign-to", "2", "--to-pool")
    for result in (neither, both):
        assert result.exit_code == 1
        assert "--reassign-to ID or --to-pool" in result.stderr
    unknown_successor = leadloop("user", "deactivate", "--telegram-id", "1", "--reassign-to", "99")
    assert unknown_successor.stderr == "error: no user with Telegram id 99\n"
    assert all(user.is_active for user in query(database, select(User)))


def _exportable(database: str) -> None:
    async def build(session):
        team = await factories.team(session, "Alpha")
        rep = await factories.user(session, team, name="=cmd|' /C calc'!A0")
        await factories.lead(
            session, team, owner=rep, name='=HYPERLINK("x")', budget="2000000", phone="+79123456789"
        )
        await factories.lead(session, team, name="Пётр", phone="+79123456780", email="p@x.ru")

    seed(database, build)


def test_export_csv_to_stdout_is_guarded(database: str) -> None:
    _exportable(database)
    result = leadloop("export", "leads", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:9] == [
        "id",
        "name",
        "phone",
        "email",
        "source",
        "campaign",
        "owner",
        "team",
        "state",
    ]
    assert "stage" in rows[0] and "created" in rows[0]
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["name"] == '\'=HYPERLINK("x")'
    assert first["owner"] == "'=cmd|' /C calc'!A0"
    assert first["phone"] == "+79123456789"
    assert first["budget"] == "2000000.0000"
    assert first["state"] == "owned"
    second = dict(zip(header, rows[2], strict=True))
    assert (second["name"], second["state"], second["owner"]) == ("Пётр", "pool", "")
    assert "exported 2 leads" in result.stderr


def test_export_xlsx_to_a_file(database: str, tmp_path) -> None:
    _exportable(database)
    target = tmp_path / "leads.xlsx"
    result = leadloop("export", "leads", "--format", "xlsx", "--output", str(target))
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(target).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["id", "name", "phone"]
    assert rows[1][1] == '\'=HYPERLINK("x")'
    assert rows[1][2] == "+79123456789"
    assert len(rows) == 3


def test_export_of_an_empty_database_is_just_the_header(database: str) -> None:
    result = leadloop("export", "leads")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("id,name,phone,email")
    assert len(result.stdout.splitlines()) == 1
