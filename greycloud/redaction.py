"""What a secret looks like, written once: for masking logs and for refusing uploads.

`redact` masks credentials in text that is about to be logged (`RedactingFilter`
does it to every record a log handler sees);
`contains_secret` tells the workspace cache to leave a file out. Both use
`CREDENTIAL_PATTERNS`, so a credential format added there is both masked and
kept out of caches.
"""

from __future__ import annotations

import logging
import re

_PRIVATE_KEY_BEGIN = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
_PRIVATE_KEY_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"

CREDENTIAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM / OpenSSH private keys: the whole block, or to the end of a cut-off text.
    (re.compile(rf"{_PRIVATE_KEY_BEGIN}.*?(?:{_PRIVATE_KEY_END}|\Z)", re.S), "<private key>"),
    # Service-account key files, whatever their name.
    (re.compile(r"(\"private_key\"\s*:\s*\")[^\"]*"), r"\1***"),
    # Google API keys and OAuth access tokens.
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), "AIza***"),
    (re.compile(r"ya29\.[0-9A-Za-z_\-\.]{8,}"), "ya29.***"),
    # AWS access key ids, GitHub and Slack tokens.
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "AKIA***"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"), "gh_***"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "xox-***"),
)
"""Credentials recognisable by their shape, and their masks: masked in logs, and a
file holding one is never uploaded."""

LABELLED_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (
        re.compile(
            r"(?i)((?:api[_-]?key|access[_-]?token|refresh[_-]?token|private[_-]?key"
            r"|client[_-]?secret|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        r"\1***",
    ),
)
"""Credentials recognisable only by their label ("Bearer X", ``api_key=X``): masked
in logs, but not a reason to skip a file (source code is full of ``api_key = ...``)."""


def redact(text: str) -> str:
    """``text`` with every credential (either kind of pattern) masked."""
    for pattern, replacement in (*CREDENTIAL_PATTERNS, *LABELLED_PATTERNS):
        text = pattern.sub(replacement, text)
    return text


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds something shaped like a credential (`CREDENTIAL_PATTERNS`)."""
    return any(pattern.search(text) for pattern, _ in CREDENTIAL_PATTERNS)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
