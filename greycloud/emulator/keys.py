"""Writing real service-account JSON key files for emulator tests."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_CLIENT_EMAIL = "greycloud-test@emulator-project.iam.gserviceaccount.com"
DEFAULT_PROJECT_ID = "emulator-project"


def write_service_account_key(
    path: str | os.PathLike[str],
    *,
    token_uri: str,
    client_email: str = DEFAULT_CLIENT_EMAIL,
    project_id: str = DEFAULT_PROJECT_ID,
) -> dict[str, Any]:
    """Generate a 2048-bit RSA key, write a service-account key file, return its dict.

    Nothing is registered with any emulator; pass :func:`public_key_pem` of the
    result to ``EmulatorState.register_service_account`` to enable signature checks.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "",
        "universe_domain": "googleapis.com",
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(info, indent=2))
    target.chmod(0o600)
    return info


def public_key_pem(key_info: dict[str, Any]) -> str:
    """PEM public key matching a key dict from :func:`write_service_account_key`."""
    private = serialization.load_pem_private_key(key_info["private_key"].encode(), None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
