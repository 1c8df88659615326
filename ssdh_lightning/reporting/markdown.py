"""Text from run folders (data set names, list-file paths, row names) made safe for one
Markdown table cell or heading."""

from __future__ import annotations


def cell(text: object) -> str:
    """``text`` on one line with its pipes escaped, so that it stays inside its cell."""
    return " ".join(str(text).split()).replace("|", "\\|")
