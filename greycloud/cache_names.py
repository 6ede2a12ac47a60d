"""The one rule for context-cache names, shared by the library and the language server.

Accepted forms (the same ones google-genai completes with the client's project
and location):

* ``ID``
* ``cachedContents/ID``
* ``projects/PROJECT/locations/LOCATION/cachedContents/ID``

``ID`` is letters, digits, ``-`` and ``_``. Everything else (``..``, ``%``,
``?``, ``#``, spaces, control characters, other collections) is refused before
any request, so a name can never leave the ``cachedContents`` collection.
This module imports nothing heavy: the server validates command arguments with
it at start-up cost zero.
"""

from __future__ import annotations

import re

__all__ = ["CACHE_NAME_FORMS", "cache_id", "validate_cache_name"]

CACHE_NAME_FORMS = "ID, cachedContents/ID or projects/P/locations/L/cachedContents/ID"

_ID = r"[A-Za-z0-9_-]+"
_PROJECT = r"[A-Za-z0-9](?:[A-Za-z0-9.:_-]*[A-Za-z0-9])?"
_LOCATION = r"[A-Za-z0-9-]+"
_CACHE_NAME = re.compile(
    rf"(?:projects/{_PROJECT}/locations/{_LOCATION}/cachedContents/|cachedContents/)?{_ID}"
)


def validate_cache_name(name: object) -> str:
    """``name`` without surrounding spaces, if it is one of the accepted forms.

    Raises ``ValueError`` saying which forms are accepted otherwise.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A cache name is required: give {CACHE_NAME_FORMS}.")
    stripped = name.strip()
    if ".." in stripped or not _CACHE_NAME.fullmatch(stripped):
        raise ValueError(
            f"Invalid cache name {stripped!r}: give {CACHE_NAME_FORMS} "
            "(ID: letters, digits, '-' and '_')."
        )
    return stripped


def cache_id(name: str) -> str:
    """The ``ID`` part of a valid cache name in any accepted form."""
    return validate_cache_name(name).rsplit("/", 1)[-1]
