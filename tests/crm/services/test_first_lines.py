"""The checks an AI first line must pass, and the template fallback."""

import pytest

from crm.services.first_lines import MAX_LENGTH, build_prompt, check_first_line, template_first_line

FACTS = {"business_name": "Joe's Plumbing", "category": "plumber", "city": "Austin", "state": "TX",
         "rating": 4.8, "review_count": 112}


def test_a_good_line_passes_cleaned():
    line, reason = check_first_line('  "Joe\'s Plumbing has 112 reviews in Austin, and your site should show that."  ', FACTS)
    assert reason == ""
    assert line == "Joe's Plumbing has 112 reviews in Austin, and your site should show that."


@pytest.mark.parametrize("answer, reason", [
    ("", "too short or empty"),
    ("ok", "too short or empty"),
    ("Great work in Austin. We built you a site.", "not exactly one sentence"),
    ("Great work in Austin, we built you a site", "not exactly one sentence"),
    ("Check out joesplumbing.com for the preview we built.", "contains a link"),
    ("See https://example.org for the preview we built.", "contains a link"),
    ("Hi [Name], we built Joe's Plumbing a great site.", "contains a placeholder"),
    ("Here's a first line: we love Joe's Plumbing in Austin.", "not a first line (a preamble)"),
    ("Joe's Plumbing has served Austin for 25 years with 4.8 stars.", "mentions numbers not in the facts: 25"),
    ("Joe's Plumbing won 3 awards this year in Austin.", "mentions numbers not in the facts: 3"),
    ("A" * 10 + " " + "word " * 40 + "end.", f"longer than {MAX_LENGTH} characters"),
    ("Joe's Plumbing is great\nand Austin loves you.", "more than one line"),
])
def test_bad_answers_are_rejected_with_the_reason(answer, reason):
    line, why = check_first_line(answer, FACTS)
    assert line == ""
    assert why == reason


def test_numbers_from_the_facts_are_allowed():
    line, why = check_first_line("With 4.8 stars from 112 reviews, Joe's Plumbing deserves a better site.", FACTS)
    assert why == "" and line


def test_template_uses_category_and_is_deterministic():
    first = template_first_line(FACTS)
    assert first == template_first_line(dict(FACTS))
    assert "Austin" in first and "Joe's Plumbing" in first
    assert len(first) <= MAX_LENGTH
    assert check_first_line(first, FACTS)[1] == ""  # our own templates pass our own checks


def test_template_never_exceeds_the_limit_even_for_huge_names():
    line = template_first_line({"business_name": "X" * 250, "city": "Austin"})
    assert len(line) <= MAX_LENGTH


def test_template_without_facts_still_reads_well():
    line = template_first_line({"business_name": "Acme"})
    assert "Acme" in line and "{" not in line


def test_prompt_holds_only_the_facts_and_the_tone():
    system, user = build_prompt(facts={**FACTS, "snippets": ["Family owned since forever"]}, tone="warm",
                                company_name="Brightside")
    assert "warm" in system and "Brightside" in system and "ONE sentence" in system
    assert "Joe's Plumbing" in user and "4.8" in user and "112" in user and "Family owned" in user
