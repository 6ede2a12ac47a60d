"""Security: workspace caches keep secrets and the outside world out, credentials never
leak into logs, errors, progress or request bodies, names are validated, and no
user input reaches a shell.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud.cache import GreyCloudCache
from greycloud.errors import GreyCloudError
from greycloud.storage import parse_gs_uri, validate_object_name, validate_prefix
from tests.reliability.fault_matrix import FAST_RETRY
from tests.reliability.lsp_abuse import answer, command

REPO = Path(__file__).resolve().parents[2]
MARKER = "PLANTED-SECRET-7f3a9c"
FAKE_API_KEY = "AIzaSyD" + "Q7x2Lk9Vn3Pb8Wm4Tc6Hj1Rf5Gs0Yd2Ue4"
README = "# Project\n\n" + "This workspace documents the reliability suite in plain words. " * 200


def _plant(workspace: Path, outside: Path) -> None:
    """A workspace full of secrets and ways out of it."""
    (workspace / "docs").mkdir(parents=True)
    (workspace / "readme.md").write_text(README)
    (workspace / "docs" / "guide.md").write_text("A guide. " * 50)
    secrets = {
        ".env": f"API_KEY={MARKER}-env\n",
        ".env.production": f"DB_PASSWORD={MARKER}-envprod\n",
        "docs/.env.local": f"TOKEN={MARKER}-envlocal\n",
        "id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MARKER}-idrsa\n",
        "id_ed25519.pub": f"ssh-ed25519 {MARKER}-idpub\n",
        "server.pem": f"-----BEGIN CERTIFICATE-----\n{MARKER}-pem\n",
        "tls/private.key": f"{MARKER}-key\n",
        "credentials.json": json.dumps({"secret": f"{MARKER}-credentials"}),
        "config/application_default_credentials.json": json.dumps({"x": f"{MARKER}-adc"}),
        ".ssh/config": f"Host x # {MARKER}-ssh\n",
        ".netrc": f"machine x password {MARKER}-netrc\n",
        ".git/config": f"[remote] url = https://user:{MARKER}-git@example.com\n",
        "keystore.p12": f"{MARKER}-p12",
    }
    for rel, text in secrets.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(f"{MARKER}-outside\n")
    (workspace / "etc").symlink_to("/etc")
    (workspace / "passwd.md").symlink_to("/etc/passwd")
    (workspace / "outside.md").symlink_to(outside / "secret.txt")
    (workspace / "outside_dir").symlink_to(outside, target_is_directory=True)
    (workspace / "docs" / "up.md").symlink_to("../../outside/secret.txt")


def _uploaded(emulator) -> str:
    """Everything sent to the cachedContents collection, as one string."""
    bodies = [
        json.dumps(r.body)
        for r in emulator.state.requests
        if "cachedContents" in r.path and r.method in ("POST", "PATCH")
    ]
    return "\n".join(bodies)


async def test_cache_workspace_uploads_no_secret_and_nothing_outside(
    adc_env, lsp, tmp_path
) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    _plant(workspace, outside)
    client = await lsp(settings={"rpm": 10_000}, workspace=workspace)
    result = await command(client, "greycloud.cacheWorkspace", {})
    assert sorted(result["files"]) == ["docs/guide.md", "readme.md"]
    uploaded = _uploaded(adc_env)
    assert "reliability suite" in uploaded
    assert MARKER not in uploaded
    assert "root:x:0" not in uploaded  # /etc/passwd
    skipped = {s["path"]: s["reason"] for s in result["skipped"]}
    for rel in (".env", "id_rsa", "server.pem", "credentials.json", ".netrc", "docs/.env.local"):
        assert skipped.get(rel) == "secret", (rel, skipped)

    # Include globs and folders that try to climb out
    hostile = [
        {"include": ["../**", "../outside/*", "/etc/*", "**/*", "**/.env*", "**/id_rsa"]},
        {"include": ["**"], "exclude": []},
        {"folder": ".."},
        {"folder": "../outside"},
        {"folder": outside.as_uri()},
        {"folder": (workspace / "outside_dir").as_uri()},
        {"folder": (workspace / "etc").as_uri()},
        {"folder": "file:///etc"},
        {"folder": (workspace / "docs" / ".." / "..").as_uri()},
    ]
    for argument in hostile:
        kind, value = await answer(client, "greycloud.cacheWorkspace", argument)
        if kind == "error":
            assert value[0] in (-32602, -32803), (argument, value)
        uploaded = _uploaded(adc_env)
        assert MARKER not in uploaded, argument
        assert "root:x:0" not in uploaded, argument


async def test_cache_workspace_skips_keys_by_content(adc_env, lsp, tmp_path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "readme.md").write_text(README)
    key = {"type": "service_account", "private_key": f"-----BEGIN PRIVATE KEY-----\n{MARKER}-sa\n"}
    (workspace / "my-project-1a2b3c4d5e6f.json").write_text(json.dumps(key))
    (workspace / "notes.txt").write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{MARKER}-rsa\n")
    client = await lsp(settings={"rpm": 10_000}, workspace=workspace)
    await command(client, "greycloud.cacheWorkspace", {})
    assert MARKER not in _uploaded(adc_env)


# -- credentials never leak ------------------------------------------------------------


def _issued_tokens(emulator) -> list[str]:
    return list(emulator.state.tokens)


def _assert_only_in_auth_headers(emulator, secrets: list[str]) -> None:
    """No secret in any recorded body, path or header other than the auth headers."""
    for record in emulator.state.requests:
        body = json.dumps(record.body)
        for secret in secrets:
            assert secret not in body, (record.path, "body")
            assert secret not in record.path, (record.path, "path")
            for header, value in record.headers.items():
                if header.lower() in ("authorization", "x-goog-api-key"):
                    continue
                assert secret not in value, (record.path, header)


def _run_failures(client: GreyCloudClient, emulator) -> list[str]:
    """A success and every kind of failure; returns the error messages."""
    messages = []
    assert client.generate_content("hello [[words=3]]").text
    for fault in (
        {"status": 403},
        {"status": 400},
        {"status": 401, "times": None},
        {"status": 503, "times": None},
        {"drop_connection": True, "times": None},
    ):
        emulator.state.add_fault(**fault)
        for call in (
            lambda: client.generate_with_retry("x", max_retries=1),
            lambda: "".join(client.generate_with_retry("x", max_retries=1, streaming=True)),
            lambda: client.count_tokens("x", fallback=False),
        ):
            try:
                call()
            except GreyCloudError as exc:
                messages.append(str(exc))
                messages.append(repr(exc))
                cause = exc.__cause__
                messages.append(str(cause))
        emulator.state.clear_faults()
    assert client.count_tokens("hello") > 0
    return messages


def test_api_key_never_leaks(adc_env, caplog) -> None:
    adc_env.state.add_api_key(FAKE_API_KEY)
    config = GreyCloudConfig(use_api_key=True, api_key=FAKE_API_KEY, endpoint=adc_env.url)
    caplog.set_level(logging.DEBUG)
    with GreyCloudClient(config, retry_policy=FAST_RETRY) as client:
        messages = _run_failures(client, adc_env)
    assert messages
    texts = [*messages, caplog.text, repr(config), str(config)]
    for text in texts:
        assert FAKE_API_KEY not in text
    _assert_only_in_auth_headers(adc_env, [FAKE_API_KEY])
    assert any(r.headers.get("x-goog-api-key") == FAKE_API_KEY for r in adc_env.state.requests)


def test_access_tokens_never_leak(adc_env, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        messages = _run_failures(client, adc_env)
    tokens = _issued_tokens(adc_env)
    assert len(tokens) >= 2  # the 401 made the client fetch a fresh one
    for token in tokens:
        for text in [*messages, caplog.text]:
            assert token not in text
    _assert_only_in_auth_headers(adc_env, tokens)


async def test_async_client_errors_and_logs_hold_no_token(adc_env, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    messages = []
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        await client.generate_content("warm [[words=2]]")
        adc_env.state.add_fault(401, times=None)
        with pytest.raises(GreyCloudError) as error:
            await client.generate_with_retry("x")
        messages.append(str(error.value))
    for token in _issued_tokens(adc_env):
        assert token not in caplog.text
        assert all(token not in m for m in messages)
    _assert_only_in_auth_headers(adc_env, _issued_tokens(adc_env))


async def test_language_server_never_shows_credentials(adc_env, lsp, tmp_path) -> None:
    adc_env.state.add_api_key(FAKE_API_KEY)
    key_file = tmp_path / "api-key.txt"
    key_file.write_text(FAKE_API_KEY + "\n")
    log_file = tmp_path / "server.log"
    client = await lsp(
        settings={"rpm": 10_000},
        env={"GREYCLOUD_USE_API_KEY": "true", "GREYCLOUD_API_KEY_FILE": str(key_file)},
        args=["--log-file", str(log_file), "--log-level", "DEBUG"],
    )
    result = await command(client, "greycloud.generate", {"prompt": "hi [[words=5]]"})
    assert result["text"]
    errors = []
    for status in (403, 400, 401):
        adc_env.state.add_fault(status, times=None)
        kind, value = await answer(client, "greycloud.generate", {"prompt": "x"})
        assert kind == "error"
        errors.append(value[1])
        kind, value = await answer(client, "greycloud.countTokens", {"text": "x"})
        errors.append(json.dumps(value))
        adc_env.state.clear_faults()
    kind, value = await answer(client, "greycloud.listCaches")  # express mode: an error
    errors.append(json.dumps(value))
    await client.shutdown_session()
    shown = [
        *errors,
        log_file.read_text(),
        *(m.message for m in client.log_messages),
        *(m.message for m in client.messages),
        json.dumps([[str(r) for r in reports] for reports in client.progress_reports.values()]),
    ]
    for text in shown:
        assert FAKE_API_KEY not in text
    _assert_only_in_auth_headers(adc_env, [FAKE_API_KEY])
    assert any(r.headers.get("x-goog-api-key") == FAKE_API_KEY for r in adc_env.state.requests)


async def test_language_server_never_shows_access_tokens(adc_env, lsp, tmp_path) -> None:
    log_file = tmp_path / "server.log"
    client = await lsp(args=["--log-file", str(log_file), "--log-level", "DEBUG"])
    await command(client, "greycloud.generate", {"prompt": "hi [[words=5]]"})
    adc_env.state.expire_all_tokens()  # force a refresh: a second token
    await command(client, "greycloud.generate", {"prompt": "again [[words=5]]"})
    adc_env.state.add_fault(401, times=None)
    kind, value = await answer(client, "greycloud.generate", {"prompt": "x"})
    assert kind == "error"
    await client.shutdown_session()
    tokens = _issued_tokens(adc_env)
    assert len(tokens) >= 2
    shown = [value[1], log_file.read_text(), *(m.message for m in client.log_messages)]
    for token in tokens:
        for text in shown:
            assert token not in text
    _assert_only_in_auth_headers(adc_env, tokens)


# -- names and paths ---------------------------------------------------------------------

BAD_NAMES = [
    "../../../cachedContents/abc",
    "projects/p/locations/l/cachedContents/1/../../batchPredictionJobs/2",
    "x?alt=json&key=1",
    "x#fragment",
    "%2e%2e/%2e%2e/_emulator/reset",
    "abc%2Fdef",
    "a\nb",
    "a\x00b",
    " ",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_cache_names_are_validated_before_any_request(adc_env, name: str) -> None:
    with GreyCloudCache(GreyCloudConfig()) as caches:
        for call in (
            lambda: caches.get_cache(name),
            lambda: caches.delete_cache(name),
            lambda: caches.update_cache_ttl(name, ttl_seconds=60),
        ):
            with pytest.raises(ValueError):
                call()
    assert not [r for r in adc_env.state.requests if "cachedContents" in r.path]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_batch_job_names_are_validated_before_any_request(adc_env, name: str) -> None:
    from greycloud.batch import GreyCloudBatch

    with GreyCloudBatch(GreyCloudConfig()) as batch:
        for call in (lambda: batch.get_batch_job(name), lambda: batch.cancel_batch_job(name)):
            with pytest.raises(ValueError):
                call()
    assert not [r for r in adc_env.state.requests if "batchPredictionJobs" in r.path]


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/passwd", "a/./b", "a\\..\\b", "a\x00b", "a\nb", ""]
)
def test_storage_object_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError):
        validate_object_name(name)
    with pytest.raises(ValueError):
        parse_gs_uri(f"gs://bucket-name/{name}" if name else "gs://bucket-name/a/../b")
    if name.strip("/") and not name.startswith("/"):  # a prefix may have slashes around it
        with pytest.raises(ValueError):
            validate_prefix(name)


@pytest.mark.parametrize(
    "uri",
    ["gs://../x", "gs://Bucket/x", "gs://a/x", "gs://goog-x/y", "s3://b/x", "gs://127.0.0.1/x"],
)
def test_storage_bucket_names_are_validated(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_gs_uri(uri)


async def test_language_server_validates_cache_names(adc_env, lsp) -> None:
    client = await lsp(settings={"rpm": 10_000})
    for name in ("../../x", "%2e%2e/%2e%2e/x", "x?alt=json", "x#y"):
        for cmd, arg in (
            ("greycloud.deleteCache", {"name": name}),
            ("greycloud.extendCache", {"name": name, "ttlSeconds": 60}),
        ):
            kind, value = await answer(client, cmd, arg)
            assert kind == "error" and value[0] == -32602, (cmd, name, value)


# -- no shell ------------------------------------------------------------------------------

SHELL_CALLS = {"system", "popen", "spawnl", "spawnlp", "spawnv", "spawnvp", "execl", "execlp"}


def _python_sources() -> list[Path]:
    return [
        p
        for package in ("greycloud", "greycloud_lsp")
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    ]


def test_nothing_reaches_a_shell() -> None:
    problems = []
    for path in _python_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if owner == "os" and name in SHELL_CALLS:
                problems.append(f"{where}: os.{name}")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    problems.append(f"{where}: shell=")
            if owner in ("subprocess", "asyncio") and name in (
                "run",
                "Popen",
                "call",
                "check_call",
                "check_output",
                "create_subprocess_shell",
            ):
                if name == "create_subprocess_shell":
                    problems.append(f"{where}: create_subprocess_shell")
                elif node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                    problems.append(f"{where}: a command string")
    assert problems == []


def test_hostile_service_account_reaches_gcloud_as_one_argument(
    fake_gcloud, emulator, tmp_path
) -> None:
    from greycloud.auth import gcloud_access_token

    canary = tmp_path / "pwned"
    hostile = f"sa@p.iam.gserviceaccount.com; touch {canary} $(touch {canary}) `touch {canary}`"
    fake_gcloud.set_access_token(emulator.state.issue_token("x"), impersonate=hostile)
    try:
        gcloud_access_token(hostile)
    except Exception:
        pass
    assert not canary.exists()
    calls = fake_gcloud.calls()
    assert calls and f"--impersonate-service-account={hostile}" in calls[-1]


def test_config_values_with_shell_characters_are_inert(fake_gcloud, tmp_path) -> None:
    canary = tmp_path / "pwned2"
    fake_gcloud.set_project(f"$(touch {canary})")
    config = GreyCloudConfig()
    assert not canary.exists()
    assert config.project_id == f"$(touch {canary})"  # taken literally, never evaluated
    assert fake_gcloud.calls()[-1][:3] == ["config", "get-value", "project"]
