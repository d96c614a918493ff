"""Places whose law narrows the send window below the floor, chosen by number prefix.

Data, not SQL: adding a jurisdiction is one row of ``JURISDICTIONS``. Every row is
on for every workspace and only narrows (a workspace cannot loosen it); the rule
trace names the row that narrowed a lead's window. Hours are the recipient's local
wall-clock time, start inclusive, end exclusive, like the workspace's window.
"""

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True)
class Jurisdiction:
    name: str
    source: str  # the law, so an operator can read it
    prefixes: tuple[str, ...]  # E.164 prefixes: "+1" and the area code
    opens: time
    closes: time

    def narrow(self, opens: time, closes: time) -> tuple[time, time]:
        """The workspace's window, narrowed to this jurisdiction's hours."""
        return max(opens, self.opens), min(closes, self.closes)


def _area_codes(*codes: int) -> tuple[str, ...]:
    return tuple(f"+1{code}" for code in codes)


# fmt: off
FLORIDA = (239, 305, 321, 324, 352, 386, 407, 448, 483, 561, 645, 656, 689, 727, 728,
           754, 772, 786, 813, 850, 863, 904, 941, 954)
# fmt: on

JURISDICTIONS: tuple[Jurisdiction, ...] = (
    # Florida Telephone Solicitation Act, Fla. Stat. 501.059(8)(a) (2021 amendment):
    # no commercial solicitation calls or texts before 8 a.m. or after 8 p.m. local.
    Jurisdiction(
        "Florida",
        "Fla. Stat. 501.059(8)(a)",
        _area_codes(*FLORIDA),
        time(8),
        time(20),
    ),
    # Oklahoma Telephone Solicitation Act of 2022, 15 O.S. 775C.4: same hours.
    Jurisdiction(
        "Oklahoma",
        "15 O.S. 775C.4",
        _area_codes(405, 539, 572, 580, 918),
        time(8),
        time(20),
    ),
    # Maryland Stop the Spam Calls Act of 2023, Md. Com. Law 14-4503: same hours.
    Jurisdiction(
        "Maryland",
        "Md. Com. Law 14-4503",
        _area_codes(227, 240, 301, 410, 443, 667),
        time(8),
        time(20),
    ),
)


BY_PREFIX = {prefix: rule for rule in JURISDICTIONS for prefix in rule.prefixes}
PREFIX_LENGTHS = sorted({len(prefix) for prefix in BY_PREFIX}, reverse=True)


def jurisdiction_of(e164: str | None) -> Jurisdiction | None:
    """The jurisdiction whose prefix the number starts with (the longest), if any."""
    if e164 is None:
        return None
    for length in PREFIX_LENGTHS:
        rule = BY_PREFIX.get(e164[:length])
        if rule is not None:
            return rule
    return None
