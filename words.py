"""Counted nouns in messages: "1 item", "2 items". One place for the rule, so no page or command
prints "1 items"."""


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with ``noun`` in the singular for exactly one, else the plural (``noun + "s"`` unless
    given); thousands separated."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
