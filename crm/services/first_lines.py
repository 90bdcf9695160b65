"""First lines: the prompt built from stored facts, the checks an AI answer must pass, and the
category templates used when there is no key, the call fails, the answer fails a check, or
personalisation is switched off."""

import hashlib
import re

PROMPT_VERSION = 1
MANUAL_SOURCE = "manual"  # typed by a person: the pipeline never overwrites it
MAX_LENGTH = 160

URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|net|org|io|co|us|biz|info|app|site|shop)\b", re.I)
PLACEHOLDER = re.compile(r"[\[\]{}<>]|\bX{2,}\b|lorem ipsum|\binsert\b|placeholder|\bTBD\b|your business name", re.I)
PREAMBLE = re.compile(r"^(here'?s|here is|sure|certainly|first line|as an ai)\b", re.I)
SECOND_SENTENCE = re.compile(r"[.!?][\"')\]]*\s+\S")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

CATEGORY_TEMPLATES: dict[str, list[str]] = {
    "plumb": ["When a pipe bursts in {city}, people search fast, so we built {name} a site that gets the call."],
    "dent": ["{name} deserves a website that makes booking a visit in {city} as easy as a smile."],
    "salon": ["{name} clearly knows style, so we sketched a website that shows it off to {city}."],
    "hair": ["{name} clearly knows style, so we sketched a website that shows it off to {city}."],
    "roof": ["Homeowners in {city} look online before they call a roofer, so we built {name} a site that wins that moment."],
    "cafe": ["{name} looks like a {city} favourite, so we mocked up a website as inviting as your counter."],
    "coffee": ["{name} looks like a {city} favourite, so we mocked up a website as inviting as your counter."],
    "restaurant": ["Hungry people in {city} decide online, so we built {name} a menu-first website preview."],
    "auto": ["Drivers in {city} search for a shop they can trust, so we built {name} a site that earns the visit."],
    "law": ["People in {city} pick a lawyer they trust online, so we drafted {name} a website that builds that trust."],
    "landscap": ["Your work at {name} is outdoors for {city} to see, so we built a website that shows it off."],
    "clean": ["We noticed {name} and built a fresh website preview to match the work you do in {city}."],
}
RATED_TEMPLATE = "With {rating} stars from {reviews} reviews, {name} has earned a website that shows {city} why."
GENERIC_TEMPLATES = [
    "We built {name} a website preview so more people in {city} find you first.",
    "{name} caught our eye, so we sketched a website that shows off what makes you different.",
]
SHORT_TEMPLATE = "We built a website preview for your business."


def _pick(options: list[str], key: str) -> list[str]:
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)
    return options[start:] + options[:start]


def template_first_line(facts: dict) -> str:
    """A deterministic line for the lead's category from its facts, always <= MAX_LENGTH."""
    name = facts.get("business_name") or "your business"
    values = {"name": name, "city": facts.get("city") or "your area",
              "rating": facts.get("rating"), "reviews": facts.get("review_count")}
    category = (facts.get("category") or "").lower()
    candidates = [t for key, options in CATEGORY_TEMPLATES.items() if key in category for t in options]
    if values["rating"] and values["reviews"] and float(values["rating"]) >= 4.5:
        candidates.append(RATED_TEMPLATE)
    candidates += _pick(GENERIC_TEMPLATES, name)
    for template in candidates:
        line = template.format(**values)
        if len(line) <= MAX_LENGTH:
            return line
    return SHORT_TEMPLATE


def build_prompt(*, facts: dict, tone: str, company_name: str) -> tuple[str, str]:
    """(system, user) messages: only stored facts go in, so only they can come out."""
    system = (
        f"You write the opening line of a text message from {company_name}, a web design agency, to the "
        f"owner of a local business. Write exactly ONE sentence of at most 140 characters in a {tone} tone. "
        "Use only the facts given. Do not invent numbers, names, awards, years or claims. "
        "No links, no emojis, no placeholders, no greeting, no quotation marks."
    )
    lines = [f"- {label}: {facts[key]}" for key, label in (
        ("business_name", "Business"), ("category", "Category"), ("city", "City"), ("state", "State"),
        ("rating", "Google rating"), ("review_count", "Number of reviews"), ("hours_summary", "Hours"),
    ) if facts.get(key) not in (None, "")]
    for snippet in facts.get("snippets", [])[:3]:
        lines.append(f"- From the web: {snippet}")
    user = "Facts:\n" + "\n".join(lines) + "\n\nWrite the opening line."
    return system, user


def _facts_text(facts: dict) -> str:
    parts = []
    for value in facts.values():
        if isinstance(value, (list, tuple)):
            parts.extend(str(v) for v in value)
        elif isinstance(value, dict):
            parts.extend(str(v) for v in value.values())
        elif value is not None:
            parts.append(str(value))
    return " ".join(parts)


def check_first_line(text: str, facts: dict) -> tuple[str, str]:
    """(cleaned line, "") when the AI's answer may be used, else ("", the reason it may not)."""
    line = " ".join((text or "").split()).strip().strip('"\u201c\u201d\'').strip()
    if not line or len(line.split()) < 4:
        return "", "too short or empty"
    if "\n" in (text or "").strip():
        return "", "more than one line"
    if len(line) > MAX_LENGTH:
        return "", f"longer than {MAX_LENGTH} characters"
    if URL.search(line):
        return "", "contains a link"
    if PLACEHOLDER.search(line):
        return "", "contains a placeholder"
    if PREAMBLE.search(line):
        return "", "not a first line (a preamble)"
    if SECOND_SENTENCE.search(line) or line[-1] not in ".!?":
        return "", "not exactly one sentence"
    known = set(NUMBER.findall(_facts_text(facts)))
    invented = [n for n in NUMBER.findall(line) if n not in known]
    if invented:
        return "", f"mentions numbers not in the facts: {', '.join(invented)}"
    return line, ""
