"""Generated sections of the Markdown documents: the text between ``<!-- name -->`` and ``<!-- /name -->``,
which a benchmark rewrites from its records and a test compares with them (the data card's tables)."""

from __future__ import annotations


def section(text: str, name: str) -> str:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in ``text``, stripped.

    Raises:
        ValueError: when ``text`` lacks either marker.
    """
    start, end = f"<!-- {name} -->\n", f"<!-- /{name} -->"
    return text[text.index(start) + len(start):text.index(end)].strip()


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with ``body`` between ``<!-- name -->`` and ``<!-- /name -->`` (what :func:`section` reads).

    Raises:
        ValueError: when ``text`` lacks either marker.
    """
    start, end = f"<!-- {name} -->\n", f"<!-- /{name} -->"
    return text[:text.index(start) + len(start)] + body + "\n" + text[text.index(end):]
