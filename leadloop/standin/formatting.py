"""Telegram's HTML parse mode: validation, plain text and entities, length limits."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from .state import bad_request

TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
# The only named entities Telegram decodes; any other "&name;" stays literal text.
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _ParseError(Exception):
    pass


class _TelegramHtml(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self.line_starts.append(index + 1)
        self.parts: list[str] = []
        self.length = 0  # of the plain text so far, in UTF-16 code units
        self.open: list[tuple[str, int, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def index(self) -> int:
        """Position in the source of the construct being handled."""
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def byte_offset(self, index: int | None = None) -> int:
        return len(self.source[: self.index() if index is None else index].encode())

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def handle_data(self, data: str) -> None:
        # html.parser treats a stray "<" as text; Telegram reads it as the start of a tag.
        position = data.find("<")
        if position < 0:
            self.emit(data)
            return
        start = self.index() + position
        rest = self.source[start + 1 :]
        name_end = next((i for i, c in enumerate(rest) if c.isspace() or c == ">"), None)
        where = self.byte_offset(start)
        if name_end is None:
            raise _ParseError(f"Unclosed start tag at byte offset {where}")
        name = rest[:name_end].lower()
        raise _ParseError(f'Unsupported start tag "{name}" at byte offset {where}')

    def handle_entityref(self, name: str) -> None:
        self.emit(NAMED_ENTITIES.get(name, f"&{name};"))

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self.emit(chr(code))
        except (ValueError, OverflowError):
            self.emit(f"&#{name};")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = self.byte_offset()
        if tag not in TAG_ENTITIES:
            raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {where}')
        attributes = {name: value or "" for name, value in attrs}
        entity: dict[str, Any] = {"type": TAG_ENTITIES[tag]}
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
        if tag == "a" and "href" in attributes:
            entity["url"] = attributes["href"]
        elif tag == "a":
            entity["type"] = "url"
        if tag == "tg-emoji":
            if "emoji-id" not in attributes:
                raise _ParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at {where}')
            entity["custom_emoji_id"] = attributes["emoji-id"]
        if tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        if tag == "code" and self.open and self.open[-1][0] == "pre":
            language = attributes.get("class", "").removeprefix("language-")
            if language:
                self.open[-1][2]["language"] = language
            entity["type"] = ""  # Telegram folds <pre><code> into a single pre entity
        self.open.append((tag, self.length, entity))

    def handle_endtag(self, tag: str) -> None:
        where = self.byte_offset()
        if not self.open:
            raise _ParseError(f"Unexpected end tag at byte offset {where}")
        open_tag, start, entity = self.open[-1]
        if open_tag != tag:
            raise _ParseError(
                f'Unmatched end tag at byte offset {where}, expected "</{open_tag}>", '
                f'found "</{tag}>"'
            )
        self.open.pop()
        if self.length > start and entity["type"]:
            self.entities.append({**entity, "offset": start, "length": self.length - start})

    def unsupported(self, what: str) -> None:
        raise _ParseError(f'Unsupported start tag "{what}" at byte offset {self.byte_offset()}')

    def handle_comment(self, data: str) -> None:
        self.unsupported("!--")

    def handle_decl(self, decl: str) -> None:
        self.unsupported("!" + decl.split(" ")[0].lower())

    def handle_pi(self, data: str) -> None:
        self.unsupported("?")

    def unknown_decl(self, data: str) -> None:
        self.unsupported("![")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of an HTML-formatted text, or 400 "can't parse entities"."""
    parser = _TelegramHtml(source)
    try:
        parser.feed(source)
        parser.close()
        if parser.open:
            tag = parser.open[-1][0]
            raise _ParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    except _ParseError as error:
        raise bad_request(f"can't parse entities: {error}") from None
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram drops leading and trailing whitespace; entities are shifted and clipped."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    trimmed = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            trimmed.append({**entity, "offset": start, "length": stop - start})
    return stripped, trimmed


def format_text(
    text: Any,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int,
    empty_error: str | None,
    long_error: str,
) -> tuple[str, list[dict[str, Any]]]:
    """Validate a message text or caption like Telegram; returns (plain text, entities)."""
    source = "" if text is None else str(text)
    if entities:
        if not isinstance(entities, list):
            raise bad_request("can't parse entities JSON object")
        plain, found = source, [dict(entity) for entity in entities]
    elif parse_mode:
        if parse_mode.lower() not in PARSE_MODES:
            raise bad_request("unsupported parse_mode")
        # Markdown modes are passed through unparsed; only HTML is modelled.
        plain, found = parse_html(source) if parse_mode.lower() == "html" else (source, [])
    else:
        plain, found = source, []
    plain, found = _trim(plain, found)
    if not plain and empty_error is not None:
        raise bad_request(empty_error)
    if len(plain) > limit:
        raise bad_request(long_error)
    return plain, found
