"""HTTP ingress (FastAPI): lead webhooks, the Telegram webhook, health and metrics."""
