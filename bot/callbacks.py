"""Inline-button payloads as typed factories; each packs within Telegram's 64 bytes.

Payloads carry ids and short codes only; whatever a payload names is checked again in core,
so a forged one gets no further than a hand-made one.
"""

from aiogram.filters.callback_data import CallbackData


class LeadAction(CallbackData, prefix="l"):
    """A button on a lead card: `action` on lead `lead_id`, with an optional short `arg`."""

    action: str
    lead_id: int
    arg: str = ""


class ListPage(CallbackData, prefix="p"):
    """A page of the /leads list with its filters."""

    page: int = 0
    stage: str = ""
    tag: str = ""
    grade: str = ""
    idle: int = 0
    lost: bool = False


class Choice(CallbackData, prefix="c"):
    """A quick answer inside a guided flow: `flow` says which question, `value` the answer."""

    flow: str
    value: str


class TaskAction(CallbackData, prefix="t"):
    action: str
    task_id: int


class AskOwner(CallbackData, prefix="ask"):
    """From a duplicate notice: ask the owner and the manager about their customer."""

    lead_id: int


class Language(CallbackData, prefix="lang"):
    locale: str


class Claim(CallbackData, prefix="claim"):
    """Claim a lead: from an offer or a group post (`post`: mark it taken), the pool or a card."""

    lead_id: int
    post: bool = False


class Reassign(CallbackData, prefix="ra"):
    """/reassign: hand lead `lead_id` to the rep `user_id`."""

    lead_id: int
    user_id: int


class MergeLeads(CallbackData, prefix="mg"):
    """/merge confirmation: fold `drop_id` into `keep_id` when `ok`, else cancel."""

    keep_id: int
    drop_id: int
    ok: bool = False


class HistoryPage(CallbackData, prefix="hi"):
    """/history: a lead's older audit entries, from `offset` on."""

    lead_id: int
    offset: int


class TeamSetting(CallbackData, prefix="set"):
    """/settings: the setting `name` picked (with `value` when chosen from buttons); none: back."""

    name: str = ""
    value: str = ""


class ListFilter(CallbackData, prefix="lf"):
    """/leads: open the picker of filter `kind` (stage, tag, grade, idle), keeping those set.

    `tag` is the tag's id (a name could pass 64 bytes).
    """

    kind: str
    stage: str = ""
    tag: str = ""
    grade: str = ""
    idle: int = 0
    lost: bool = False
