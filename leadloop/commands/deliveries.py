"""`leadloop deliveries replay ID`: run a refused webhook delivery through intake again."""

from typing import Annotated

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from core import intake
from core.models import utcnow
from core.settings import Settings
from leadloop.runtime import fail, run_in_session
from webhooks.graph import GraphClient, GraphUnavailable

app = typer.Typer(help="The journal of webhook deliveries.", no_args_is_help=True)


@app.command()
def replay(
    delivery_id: Annotated[int, typer.Argument(help="The journal id of a rejected delivery.")],
) -> None:
    """Replay a rejected delivery, e.g. after fixing the source's --map."""

    async def work(session: AsyncSession, settings: Settings) -> intake.Received:
        graph = GraphClient(settings.meta_graph_url)
        return await intake.replay(session, delivery_id=delivery_id, now=utcnow(), fill=graph.fill)

    try:
        received = run_in_session(work)
    except GraphUnavailable as error:  # nothing was written: the delivery stays rejected
        fail(f"{error}; the delivery stays rejected, replay it later")
    leads = ", ".join(str(lead_id) for lead_id in received.lead_ids) or "none"
    typer.echo(f"delivery {delivery_id} replayed: {received.outcome}; leads {leads}")
