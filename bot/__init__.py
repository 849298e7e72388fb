"""The Telegram side: aiogram handlers, keyboards, conversation state and the outbox sender."""

from bot.lazy_types import defer_type_builds

# Before any module of this package imports aiogram: its types then build on first use.
defer_type_builds()
