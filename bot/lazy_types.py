"""aiogram's Telegram types built on first use instead of all at import.

aiogram declares its ~400 pydantic models with `defer_build=True`, then forces every one of
them to build at the end of `aiogram/types/__init__.py` (a `model_rebuild()` loop that hands
them the names they refer to). Each model builds its own copy of every model it contains, so
importing aiogram left a process resident at ~165 MiB before the first update arrived.

`defer_type_builds()` imports aiogram with that loop skipped and puts the names the loop would
have handed over into the type modules, where pydantic looks when it builds a model on its
first use: the import costs ~55 MiB, and parsing updates and Telegram's answers adds a few
MiB (measured in benchmarks/README.md). It must run before aiogram is first imported:
`bot/__init__.py` calls it, and `warm_up()` builds what every update needs ahead of the
first one.
"""

import sys
from typing import Any

import pydantic

#: A name only aiogram's own namespace for its types holds: how its loop's calls are known.
_AIOGRAM_MARKER = "Default"


def defer_type_builds() -> None:
    """Import aiogram without building its types (no-op if it is imported already)."""
    if "aiogram.types" in sys.modules:
        return
    original = pydantic.BaseModel.__dict__["model_rebuild"]
    handed: dict[str, Any] = {}

    def skip_aiogram_loop(
        cls: type[pydantic.BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any
    ) -> bool | None:
        if _types_namespace is not None and _AIOGRAM_MARKER in _types_namespace:
            if not handed:  # the same namespace comes with every type
                handed.update(_types_namespace)
            return None
        return original.__func__(cls, *args, _types_namespace=_types_namespace, **kwargs)

    pydantic.BaseModel.model_rebuild = classmethod(skip_aiogram_loop)  # type: ignore[assignment]
    try:
        import aiogram.types
    finally:
        pydantic.BaseModel.model_rebuild = original  # type: ignore[method-assign]
    for module_name in _type_modules(aiogram.types):
        names = vars(sys.modules[module_name])
        for name, value in handed.items():
            names.setdefault(name, value)


def _type_modules(package: Any) -> set[str]:
    return {
        value.__module__
        for value in vars(package).values()
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
    }


def warm_up() -> None:
    """Build what parsing an update and sending a push need before the first one (Telegram's
    answers to sent messages, `Response[Message]`, are built where the outbox sender is
    imported). Built on first use instead, they made the first push after a start ~8 ms
    slower."""
    from aiogram.methods import EditMessageText, SendMessage
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update

    for model in (Update, SendMessage, EditMessageText, InlineKeyboardMarkup, InlineKeyboardButton):
        model.model_rebuild()
