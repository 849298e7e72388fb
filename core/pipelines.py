"""Industry presets: a team's sales stages and the profile fields a rep asks about.

Stages and fields are identifiers; the bot translates their labels.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    stages: tuple[str, ...]
    profile_fields: tuple[str, ...]

    @property
    def first_stage(self) -> str:
        return self.stages[0]


_COMMON_STAGES = ("first_contact", "intent", "invited", "visited", "deposit", "signed", "paid")

PRESETS: dict[str, Preset] = {
    "generic": Preset(stages=_COMMON_STAGES, profile_fields=("budget",)),
    "home-renovation": Preset(
        stages=_COMMON_STAGES,
        profile_fields=("house_type", "area", "style", "budget"),
    ),
    "real-estate": Preset(
        stages=("first_contact", "intent", "viewing", "offer", "deposit", "signed", "paid"),
        profile_fields=("district", "rooms", "budget_range", "purpose"),
    ),
    "used-cars": Preset(
        stages=("first_contact", "intent", "test_drive", "offer", "deposit", "signed", "paid"),
        profile_fields=("make_model", "budget", "trade_in"),
    ),
}


def preset(name: str) -> Preset:
    return PRESETS[name]
