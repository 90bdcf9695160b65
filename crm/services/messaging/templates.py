"""Message templates: the variables they may use, rendering, and SMS segment counting."""

import string

from django.conf import settings

ALLOWED_VARIABLES = ("business_name", "contact_first_name", "first_line", "preview_url", "rep_name",
                     "company_name", "checkout_url")
# GSM 03.38 basic set plus the extension table (each extension character takes two septets).
GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = set("^{}\\[~]|€\f")


class TemplateError(ValueError):
    pass


def template_variables(body: str) -> list[str]:
    """The {names} used in `body`; raises TemplateError for malformed braces."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        raise TemplateError(f"Malformed braces: {exc}. Write a literal brace as {{{{ or }}}}.") from exc


def template_errors(body: str) -> list[str]:
    """Problems that stop a template being saved: unknown or malformed variables."""
    try:
        names = template_variables(body)
    except TemplateError as exc:
        return [str(exc)]
    errors = []
    for name in names:
        if name == "" or not name.isidentifier():
            errors.append("Empty or positional {} placeholders are not allowed; name the variable.")
        elif name not in ALLOWED_VARIABLES:
            errors.append(f"Unknown variable {{{name}}}. Allowed: " + ", ".join(f"{{{v}}}" for v in ALLOWED_VARIABLES))
    if not body.strip():
        errors.append("The message is empty.")
    return errors


def preview_url(lead) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/p/{lead.preview_token}/"


def checkout_claim_url(lead) -> str:
    """The lead's claim link on our own domain: each click opens (or reuses) a live checkout."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/p/{lead.preview_token}/claim/"


def template_context(*, lead, company, preview_url: str, checkout_url: str | None = None) -> dict[str, str]:
    """The variables of a message to `lead`; {checkout_url} is the lead's claim link unless given."""
    rep = lead.assigned_rep
    return {
        "business_name": lead.business_name,
        "contact_first_name": lead.contact_first_name or "there",
        "first_line": lead.first_line,
        "preview_url": preview_url,
        "rep_name": (rep.get_short_name() or rep.get_username()) if rep else company.name,
        "company_name": company.name,
        "checkout_url": checkout_claim_url(lead) if checkout_url is None else checkout_url,
    }


def template_render(body: str, context: dict[str, str]) -> str:
    """The text to send; whitespace left by an empty variable is tidied."""
    text = body.format_map({name: context.get(name, "") for name in ALLOWED_VARIABLES})
    return " ".join(part for part in text.replace("\r", "").split(" ") if part != "").strip()


def sms_segments(text: str) -> dict:
    """Encoding, length and how many SMS segments `text` costs (GSM-7: 160/153, UCS-2: 70/67)."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        length = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if length <= single else -(-length // multi)
    return {"encoding": encoding, "length": length, "segments": segments}
