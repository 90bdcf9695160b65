"""The rows of a long admin list, joined in Python rather than by the template engine."""

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# One result as Unfold's admin/change_list_results.html draws it (striped, no row sections).
ROW = '<tbody class="relative {}" x-data="{{rowOpen: false}}"><tr class="data-row relative">{}</tr></tbody>'
STRIPES = ("", "bg-base-50 dark:bg-white/[.02]")


@register.simple_tag
def result_rows(results) -> SafeString:
    """Every result's cells (safe HTML from items_for_result) in its row: nine template
    variables a row fewer to resolve, localise and escape."""
    return mark_safe("".join(ROW.format(STRIPES[i % 2], "".join(map(conditional_escape, cells)))
                             for i, cells in enumerate(results)))
