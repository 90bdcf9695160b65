"""Small shared pieces: money fields and choices used across domains."""

CURRENCY_DEFAULT = "usd"


def format_cents(amount_cents: int | None, currency: str = CURRENCY_DEFAULT) -> str:
    """Money is stored as integer cents; this is how it is shown."""
    if amount_cents is None:
        return "-"
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(int(amount_cents)), 100)
    symbol = "$" if currency.lower() == "usd" else f"{currency.upper()} "
    return f"{sign}{symbol}{whole:,}.{cents:02d}"
