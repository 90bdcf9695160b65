"""The engagement score, the one place it is written (the original design's formula):

    (views * 10 + clicks * 20 + messages * 15 + minutes on the page * 5) / 100

Given numbers it is a number; given column expressions (the default: the lead's own columns,
or those plus what an update adds) it is an expression an UPDATE computes in the database.
"""

from django.db.models import F


def engagement_score(*, views=None, clicks=None, messages=None, seconds=None):
    views = F("preview_views") if views is None else views
    clicks = F("preview_clicks") if clicks is None else clicks
    messages = F("inbound_messages") if messages is None else messages
    seconds = F("preview_seconds") if seconds is None else seconds
    return (views * 10 + clicks * 20 + messages * 15 + seconds / 60.0 * 5) / 100.0
