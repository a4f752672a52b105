"""JSON from a file a user hands in (an experiment, a schema), read within bounds.

`json.loads` alone turns a hostile file into a crash: 450,000 nested `[` raise RecursionError,
a 5,000-digit number raises ValueError (Python's limit on converting digits), a megabyte-long
value is echoed whole by any message that quotes it. Here the nesting is measured before the
parser runs, whole numbers are bounded while it runs, text after; anything else the parser
raises is caught too. Every refusal is one line, the caller's error class, quoting at most
`QUOTE` characters of a value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from nncore.errors import NNCoreError

QUOTE = 80  # characters of a value a message shows
# A JSON string as written: a quote, then anything but a quote or backslash, or an escape; the
# closing quote optional, so an unclosed string is one match to the end (linear time, always).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one kind of file may hold. The studio's own files stay far inside."""

    depth: int = 32  # nested lists and objects
    digits: int = 30  # in one whole number: a 64-bit integer has 20
    text: int = 1_000  # characters in one text value or field name


def quote(value: Any, limit: int = QUOTE) -> str:
    """`repr(value)`, its first `limit` characters followed by "…" when it is longer."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}…"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def loads(
    data: str | bytes,
    *,
    what: str,
    advice: str,
    error: type[NNCoreError],
    bounds: Bounds = Bounds(),
) -> Any:
    """Parse `data` or raise `error("<what> <problem>. <advice>")`.

    `what` names the file in a sentence ("The experiment file"); `advice` says what to do.
    """

    def refuse(problem: str) -> NNCoreError:
        return error(f"{what} {problem}. {advice}")

    try:
        text = data.decode(json.detect_encoding(data)) if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise refuse(f"is not text ({exc.reason} at byte {exc.start:,})") from None
    deepest = _depth(text)
    if deepest > bounds.depth:
        raise refuse(
            f"nests lists or objects {deepest:,} levels deep; a file this studio saved has a "
            f"few, and at most {bounds.depth} are read"
        )

    def whole(digits: str) -> int:
        if len(digits.lstrip("-")) > bounds.digits:
            raise refuse(
                f"holds a whole number of {len(digits.lstrip('-')):,} digits "
                f"({digits[:20]}…); at most {bounds.digits} are read"
            )
        return int(digits)

    try:
        value = json.loads(text, parse_int=whole)
    except NNCoreError:
        raise
    except json.JSONDecodeError as exc:
        raise refuse(
            f"is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})"
        ) from None
    except Exception as exc:  # any other failure of the parser on a hostile file, same answer
        raise refuse(f"cannot be read as JSON ({type(exc).__name__})") from None
    _check_text(value, bounds.text, refuse)
    return value


def _depth(text: str) -> int:
    """The deepest nesting of lists and objects, brackets inside strings not counted."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_text(value: Any, limit: int, refuse) -> None:
    """Refuse a text value or field name over `limit` characters (the nesting is bounded)."""
    if isinstance(value, str):
        if len(value) > limit:
            raise refuse(
                f"holds a text of {len(value):,} characters, {quote(value)}; at most "
                f"{limit:,} are read"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, limit, refuse)
            _check_text(item, limit, refuse)
    elif isinstance(value, list):
        for item in value:
            _check_text(item, limit, refuse)
