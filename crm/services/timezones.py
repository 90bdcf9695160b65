"""A lead's time zone: from coordinates, else the gazetteer, else its state, else its area code.

How it was derived is kept on the lead (time_zone_source), because quiet hours depend on it.
"""

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as phone_timezones

# The zone most of each state's people live in (a few states span two zones).
STATE_TIME_ZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
    "CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
    "DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
    "KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
    "MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
    "NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
    "NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
    "SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
    "UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver", "PR": "America/Puerto_Rico",
    "GU": "Pacific/Guam", "VI": "America/St_Thomas", "AS": "Pacific/Pago_Pago", "MP": "Pacific/Saipan",
}


# Every zone each state's places use, where there is more than one (tz database names).
# A lead placed only by its state may be in any of them.
STATE_ALL_TIME_ZONES = {
    "AK": ("America/Anchorage", "America/Adak"),
    "AL": ("America/Chicago", "America/New_York"),  # Phenix City keeps Eastern time
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation keeps daylight saving
    "FL": ("America/New_York", "America/Chicago"),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "MI": ("America/Detroit", "America/Menominee"),
    "ND": ("America/Chicago", "America/Denver"),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles", "America/Denver"),  # West Wendover keeps Mountain time
    "OR": ("America/Los_Angeles", "America/Boise"),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
}
# Sources that place a lead in one zone; a state or an area code only says where it may be.
PRECISE_SOURCES = frozenset({"coordinates", "gazetteer", "manual", ""})


def state_time_zones(state: str) -> tuple[str, ...]:
    """Every zone a US state's places may be in (empty for an unknown state)."""
    state = (state or "").strip().upper()
    if state in STATE_ALL_TIME_ZONES:
        return STATE_ALL_TIME_ZONES[state]
    return (STATE_TIME_ZONES[state],) if state in STATE_TIME_ZONES else ()


@lru_cache(maxsize=1)
def _finder():
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def time_zone_from_coordinates(latitude, longitude) -> str:
    if latitude is None or longitude is None:
        return ""
    return _finder().timezone_at(lat=float(latitude), lng=float(longitude)) or ""


def time_zone_from_phone(phone: str) -> str:
    """The zone of the phone's area code, when the area code has exactly one."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != phone_timezones.UNKNOWN_TIMEZONE]
    return zones[0] if len(zones) == 1 else ""


def derive_time_zone(*, latitude=None, longitude=None, gazetteer_zone: str = "", state: str = "",
                     country: str = "US", phone: str = "") -> tuple[str, str]:
    """(zone, how it was derived), trying the most precise source first; ("", "") if none."""
    zone = time_zone_from_coordinates(latitude, longitude)
    if zone:
        return zone, "coordinates"
    if gazetteer_zone:
        return gazetteer_zone, "gazetteer"
    if country == "US" and state.upper() in STATE_TIME_ZONES:
        return STATE_TIME_ZONES[state.upper()], "state"
    zone = time_zone_from_phone(phone)
    if zone:
        return zone, "area_code"
    return "", ""
