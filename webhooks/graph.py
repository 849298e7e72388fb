"""Meta's Graph API: a leadgen notification carries only ids; the fields are fetched here.

aiohttp (which the bot already runs on) rather than httpx: httpx also imports its command
line's rich and pygments when they are installed, ~5 MiB the server has no use for.
"""

from typing import Any

import aiohttp

from core.mapping import Item, meta_fields


class GraphUnavailable(Exception):
    """The Graph API did not give the lead's fields; Meta will deliver again later."""


class GraphClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def fill(self, items: list[Item], access_token: str | None) -> list[Item]:
        """Each leadgen item with the lead's form fields added."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout, raise_for_status=True) as client:
            return [await self._fill(client, item, access_token) for item in items]

    async def _fill(self, client: aiohttp.ClientSession, item: Item, token: str | None) -> Item:
        params = {"access_token": token or "", "fields": "field_data,created_time,ad_id,form_id"}
        try:
            async with client.get(f"{self.base_url}/{item.event_id}", params=params) as response:
                lead: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise GraphUnavailable(f"Graph API: {type(error).__name__}") from error
        return Item({**item.fields, **meta_fields(lead)}, item.event_id)
