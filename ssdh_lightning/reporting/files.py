"""File names the report makes from what run files say (a data set's name): kept inside the
report's folder whatever the name holds."""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 80


def safe_file_name(name: str) -> str:
    """``name`` as a plain file name: every character but letters, digits, ``.``, ``-`` and
    ``_`` becomes ``_``, with no leading ``.`` (so ``..`` and ``/`` never reach a path); a name
    that had to change gets a short hash of the original, so that two names never share a
    file."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:MAX_NAME]
    if cleaned and cleaned == name:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned or '_'}-{digest}"
