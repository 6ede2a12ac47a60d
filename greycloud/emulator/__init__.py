"""Local Vertex AI emulator speaking the REST surface ``google-genai`` uses."""

from greycloud.emulator.app import ROUTE_MODULES, create_app
from greycloud.emulator.keys import (
    DEFAULT_CLIENT_EMAIL,
    DEFAULT_PROJECT_ID,
    public_key_pem,
    write_service_account_key,
)
from greycloud.emulator.runner import EmulatorServer, run_forever, serve
from greycloud.emulator.state import (
    DEFAULT_API_KEY,
    EmulatorState,
    Fault,
    RecordedRequest,
)
from greycloud.emulator.text import count_tokens, response_text

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLIENT_EMAIL",
    "DEFAULT_PROJECT_ID",
    "ROUTE_MODULES",
    "EmulatorServer",
    "EmulatorState",
    "Fault",
    "RecordedRequest",
    "count_tokens",
    "create_app",
    "public_key_pem",
    "response_text",
    "run_forever",
    "serve",
    "write_service_account_key",
]
