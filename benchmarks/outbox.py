"""How fast the outbox sender drains rows to a Bot API, and what it costs per message.

Telegram's own limits (30/s overall, 1/s per chat) are lifted here so that the figure is the
sender's own overhead: claim, render, send over HTTP to the local stand-in, mark sent.

    python -m benchmarks.outbox [--messages 3000] [--chats 300] [--database URL]
"""

import argparse
import time
from collections.abc import Sequence

from benchmarks.common import fresh_database, peak_rss_mib, run
from bot.app import create_bot
from bot.outbox_sender import OutboxSender
from bot.rendering import Readers, Rendered
from core import outbox
from core.db import create_engine, session_factory
from leadloop.standin import BotApiStandin

TOKEN = "1:benchmark-token"


class _Numbered:
    """Pushes that need no reader: `push <n>`."""

    async def readers(self, _session: object, _messages: Sequence[outbox.Due]) -> Readers:
        return {}

    def __call__(self, message: outbox.Due, _readers: Readers) -> Rendered:
        return Rendered(f"push {message.params['n']}")


async def main(messages: int, chats: int, url: str) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        for n in range(messages):
            await outbox.enqueue(
                session,
                kind="bench",
                chat_id=1000 + n % chats,
                params={"n": n},
                dedup_key=f"bench:{n}",
            )
        await session.commit()
    async with BotApiStandin(token=TOKEN) as standin:
        bot = create_bot(TOKEN, standin.base_url)
        sender = OutboxSender(
            bot=bot,
            sessions=sessions,
            render=_Numbered(),
            global_rate=10_000,
            private_per_second=1_000,
            batch_size=500,
        )
        started = time.perf_counter()
        sent = 0
        while sent < messages:
            sent += await sender.send_due()
        elapsed = time.perf_counter() - started
        await bot.session.close()
    await engine.dispose()
    print(f"database: {engine.dialect.name}; {messages} messages to {chats} chats")
    print(
        f"sent in {elapsed:.2f} s: {messages / elapsed:.0f} messages/s, "
        f"{elapsed / messages * 1000:.2f} ms each; peak RSS {peak_rss_mib():.0f} MiB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    run(main(args.messages, args.chats, fresh_database(args.database)))
