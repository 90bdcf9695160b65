"""Time zones from coordinates, gazetteer, state or area code, with how they were derived."""

from crm.services.timezones import derive_time_zone


def test_coordinates_win():
    assert derive_time_zone(latitude=30.27, longitude=-97.74, state="NY", phone="+12125550143") == (
        "America/Chicago", "coordinates")


def test_gazetteer_zone_next():
    assert derive_time_zone(gazetteer_zone="America/Denver", state="NY") == ("America/Denver", "gazetteer")


def test_state_then_area_code():
    assert derive_time_zone(state="az") == ("America/Phoenix", "state")
    assert derive_time_zone(phone="+12125550143") == ("America/New_York", "area_code")
    assert derive_time_zone(phone="+18085550143") == ("Pacific/Honolulu", "area_code")


def test_area_code_spanning_zones_and_garbage_give_nothing():
    assert derive_time_zone(phone="+19075550143") == ("", "")  # Alaska: two zones
    assert derive_time_zone(phone="not a phone") == ("", "")
    assert derive_time_zone(state="ZZ") == ("", "")
