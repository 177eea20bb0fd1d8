"""How messages count things: `1 error`, `2 errors`, never `1 error(s)` or `1 errors`."""

from __future__ import annotations


def plural(count: float, noun: str, plural_form: str | None = None) -> str:
    """The count (thousands separated) with the noun in the right number: `1 record`, `1,000 records`."""
    word = noun if count == 1 else plural_form or f"{noun}s"
    shown = f"{count:,}" if isinstance(count, int) or not float(count).is_integer() else f"{int(count):,}"
    return f"{shown} {word}"


def a_or_an(noun: str) -> str:
    """The noun with its indefinite article: `an image`, `a video` (the nouns messages name start with
    a sounded letter, so the first letter decides)."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
