"""`leadloop serve` as a real process, its bot talking HTTP to the Bot API stand-in."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from core import users
from leadloop.server import AUTOVACUUM_OFF
from leadloop.standin import BotApiStandin, command_message, make_user
from tests import factories
from tests.botkit import TOKEN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    async def wait_healthy(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                if self.process.returncode is not None:
                    raise AssertionError(self.log.read_text())
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("leadloop serve did not answer /healthz within 15 s")

    async def stop(self) -> None:
        """SIGTERM, as systemd sends it: a graceful shutdown, then uvicorn re-raises the signal."""
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 15)
        assert self.process.returncode in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in self.log.read_text()


async def _start(env: dict[str, str], log: Path, port: int | None = None) -> Server:
    """Start `leadloop serve`; its log goes to a file, so that no pipe can fill up and block it."""
    port = port or _free_port()
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "leadloop",
            "serve",
            env={**os.environ, **env, "LEADLOOP_HTTP_PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
    return Server(process, port, log)


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandin]:
    async with BotApiStandin(token=TOKEN) as running:
        yield running


def _env(database_url: str, standin: BotApiStandin, tmp_path: Path) -> dict[str, str]:
    return {
        "LEADLOOP_DATABASE_URL": database_url,
        "LEADLOOP_DATA_DIR": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": standin.base_url,
    }


async def test_serve_answers_health_start_and_sends_pushes(
    database_url: str, session: AsyncSession, standin: BotApiStandin, tmp_path: Path
) -> None:
    team = await factories.team(session, "Alpha")
    rep = await factories.user(session, team, name="Anna")
    heir = await factories.user(session, team, name="Boris")
    await factories.lead(session, team, owner=rep)
    server = await _start(_env(database_url, standin, tmp_path), tmp_path / "serve.log")
    try:
        await server.wait_healthy()
        standin.add_update(command_message(make_user(rep.telegram_id), "start"))
        reply = await standin.wait_for_call("sendMessage", timeout=15)
        assert reply.response["result"]["text"] == (
            "Hello, Anna! You are signed in to LeadLoop as sales rep of Alpha."
        )
        # A change made elsewhere (here: offboarding) reaches the heir through the outbox.
        await users.deactivate(
            session, telegram_id=rep.telegram_id, reassign_to=heir.telegram_id, to_pool=False
        )
        push = await standin.wait_for_call(
            "sendMessage",
            lambda call: str(call.params["chat_id"]) == str(heir.telegram_id),
            timeout=15,
        )
        assert push.response["result"]["text"] == (
            "Anna has left the team: 1 of their open leads is yours now."
        )
        # The operator is told when PostgreSQL keeps no statistics current (SQLite has none).
        connection = await session.connection()
        no_autovacuum = connection.dialect.name == "postgresql" and (
            (await connection.exec_driver_sql("SHOW autovacuum")).scalar_one() == "off"
        )
        assert (AUTOVACUUM_OFF in server.log.read_text()) == no_autovacuum
    finally:
        await server.stop()


async def test_serve_in_webhook_mode_registers_and_receives(
    database_url: str, session: AsyncSession, standin: BotApiStandin, tmp_path: Path
) -> None:
    team = await factories.team(session, "Alpha", locale="ru")
    rep = await factories.user(session, team, name="Anna")
    port = _free_port()
    env = _env(database_url, standin, tmp_path) | {
        "LEADLOOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LEADLOOP_WEBHOOK_SECRET": "hook_Secret-1",
    }
    server = await _start(env, tmp_path / "serve.log", port)
    try:
        await server.wait_healthy()
        registered = await standin.wait_for_call("setWebhook", timeout=15)
        assert registered.params["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
        assert registered.params["secret_token"] == "hook_Secret-1"
        standin.add_update(command_message(make_user(rep.telegram_id, language_code=None), "start"))
        reply = await standin.wait_for_call("sendMessage", timeout=15)
        assert reply.response["result"]["text"].startswith("Здравствуйте, Anna!")
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "error: setting TELEGRAM_BOT_TOKEN:"),
        (
            {"LEADLOOP_PUBLIC_URL": "https://crm.example.com"},
            "error: setting LEADLOOP_WEBHOOK_SECRET: required when LEADLOOP_PUBLIC_URL is set",
        ),
    ],
)
async def test_serve_refuses_to_start_with_one_line(
    database_url: str, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    base = {
        "LEADLOOP_DATABASE_URL": database_url,
        "LEADLOOP_DATA_DIR": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leadloop",
        "serve",
        env={**os.environ, **base, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert lines[-1].startswith(message)
    assert "Traceback" not in stderr.decode()


async def test_serve_on_an_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    env = {
        "LEADLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/new.sqlite3",
        "TELEGRAM_BOT_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "leadloop",
        "serve",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert stderr.decode().strip().endswith("run `leadloop db upgrade`")


def test_the_server_leaves_alembic_out_of_its_memory() -> None:
    # 10 MiB of the server's 150 MiB budget, for a check made once at start (core/migrate.py).
    probe = "import sys, leadloop.server; print(any(m.startswith('alembic') for m in sys.modules))"
    assert subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split() == ["False"]
