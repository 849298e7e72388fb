"""The Telegram side: aiogram handlers, keyboards, conversation state and the outbox sender."""
