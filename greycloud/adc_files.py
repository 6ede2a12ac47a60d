"""Which credentials file an environment selects, read from that environment alone.

google-auth reads ``GOOGLE_APPLICATION_CREDENTIALS`` and gcloud's application-default
file from the process's own environment. A language-server daemon serves sessions
started from different environments (windows with different projects, credentials or
``HOME``), so it resolves each session's file here, the same way: the variable first,
then the file ``gcloud auth application-default login`` writes. Imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CREDENTIAL_ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "HOME",
    "APPDATA",
)
"""The variables `credentials_file_of` reads."""

ADC_FILE_NAME = "application_default_credentials.json"


def gcloud_adc_file(environ: Mapping[str, str]) -> Path | None:
    """Where gcloud keeps application-default credentials for ``environ``.

    ``$CLOUDSDK_CONFIG``, else ``~/.config/gcloud`` (``%APPDATA%\\gcloud`` on Windows),
    as gcloud and google-auth place it.
    """
    directory = environ.get("CLOUDSDK_CONFIG")
    if not directory:
        if os.name == "nt":
            appdata = environ.get("APPDATA")
            directory = os.path.join(appdata, "gcloud") if appdata else None
        else:
            home = environ.get("HOME")
            directory = os.path.join(home, ".config", "gcloud") if home else None
    return Path(directory, ADC_FILE_NAME) if directory else None


def credentials_file_of(environ: Mapping[str, str]) -> str | None:
    """``GOOGLE_APPLICATION_CREDENTIALS`` of ``environ``, else its gcloud ADC file if it exists.

    None: the environment names no file (the process's own Application Default
    Credentials, e.g. a metadata server, or ``gcloud`` apply).
    """
    explicit = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return explicit
    well_known = gcloud_adc_file(environ)
    return str(well_known) if well_known is not None and well_known.is_file() else None
