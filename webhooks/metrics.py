"""Counters of what the HTTP side refused or took, served as Prometheus text at /metrics."""

from collections import Counter

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse


class Metrics:
    """In-process counters: requests refused before anything was stored are counted here."""

    def __init__(self) -> None:
        self.webhooks: Counter[tuple[str, str]] = Counter()

    def count(self, source: str, outcome: str) -> None:
        self.webhooks[(source, outcome)] += 1

    def render(self) -> str:
        lines = [
            "# HELP leadloop_webhook_requests_total Lead webhook requests by source and outcome.",
            "# TYPE leadloop_webhook_requests_total counter",
        ]
        for (source, outcome), count in sorted(self.webhooks.items()):
            lines.append(
                f'leadloop_webhook_requests_total{{source="{_label(source)}",'
                f'outcome="{outcome}"}} {count}'
            )
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')[:64]


def metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", response_class=PlainTextResponse, tags=["health"])
    async def show_metrics() -> str:
        """Prometheus text exposition of LeadLoop's counters."""
        return metrics.render()

    return router
