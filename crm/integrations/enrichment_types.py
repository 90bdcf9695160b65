"""What every enrichment backend answers with, and the name and phone normalising they share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class PlaceResult:
    found: bool
    source: str  # "serpapi" or "offline"
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    category: str = ""
    rating: float | None = None
    review_count: int | None = None
    hours: dict[str, str] = field(default_factory=dict)  # {"monday": "8 AM–6 PM", ...}
    website: str = ""
    address: str = ""
    phone: str = ""
    time_zone: str = ""  # only when the source knows it (the offline gazetteer does)

    def facts(self) -> dict:
        """The non-empty facts (not found/source), JSON-safe, for Lead.enrichment_data."""
        out = {}
        for f in fields(self):
            if f.name in ("found", "source"):
                continue
            value = getattr(self, f.name)
            if value is None or value == "" or value == {}:
                continue
            out[f.name] = dict(value) if isinstance(value, dict) else value
        return out


# --- matching -----------------------------------------------------------------------------

_LEGAL_SUFFIXES = frozenset(
    {"llc", "inc", "incorporated", "co", "corp", "corporation", "company", "ltd", "limited",
     "pllc", "pc", "lp", "llp", "the"}
)


def normalise_name(name: str) -> str:
    """Lower case, '&' as 'and', no punctuation, no legal suffixes (LLC, Inc, ...)."""
    text = name.lower().replace("&", " and ").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(w for w in words if w not in _LEGAL_SUFFIXES)


def phone_digits(phone: str) -> str:
    """The last 10 digits (US national number), so +1 (617) 555-0100 equals 617.555.0100."""
    return re.sub(r"\D", "", phone or "")[-10:]
