"""Reading request bodies within a size limit, refusing oversized ones before reading them whole."""

from fastapi import HTTPException, Request, status


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, detail=f"request body exceeds {max_bytes} bytes"
    )
