"""Local Vertex AI emulator speaking the REST surface ``google-genai`` uses.

Quick use::

    with EmulatorServer() as server:            # background thread, random port
        token = server.state.issue_token()       # or real ADC: start_default_credentials()
        server.state.add_fault(503, retry_after=2)
        server.state.set_quota(rpm=10)
        ...                                      # point clients at server.url
        server.state.requests_for("generateContent")

Other processes use the ``/_emulator/*`` admin API (see ``admin_routes``).
New route modules expose ``register_routes(app, state)`` and are appended to
``app.ROUTE_MODULES``.
"""

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
