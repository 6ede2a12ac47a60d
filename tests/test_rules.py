"""One source per rule: ranges, config errors with their field, secret patterns, gs:// URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greycloud import GreyCloudConfig
from greycloud._request import prepare_request
from greycloud.redaction import contains_secret, redact
from greycloud.rules import IDLE_TIMEOUT, NON_NEGATIVE, TEMPERATURE, TOP_P, ConfigError
from greycloud_lsp.command_line import idle_timeout
from greycloud_lsp.common.payloads import GenerateArgs
from greycloud_lsp.settings import Settings, SettingsProblem, check_with_config, resolve

ROOT = Path(__file__).resolve().parent.parent

FAKE_API_KEY = "AIzaSyD" + "Q7x2Lk9Vn3Pb8Wm4Tc6Hj1Rf5Gs0Yd2Ue4"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"rpm": 0}, "rpm"),
        ({"thinking_level": "extreme"}, "thinking_level"),
        ({"endpoint": "localhost:8080"}, "endpoint"),
        ({"use_vertex_ai_search": True}, "use_vertex_ai_search"),
    ],
)
def test_config_errors_carry_the_field(kwargs, field):
    with pytest.raises(ConfigError) as error:
        GreyCloudConfig(project_id="p", **kwargs)
    assert error.value.field == field
    assert isinstance(error.value, ValueError)


def test_bad_environment_variable_is_not_a_field_error(monkeypatch):
    monkeypatch.setenv("GREYCLOUD_TEMPERATURE", "warm")
    with pytest.raises(ValueError) as error:
        GreyCloudConfig(project_id="p")
    assert not isinstance(error.value, ConfigError)


@pytest.mark.parametrize("value", [-0.1, 2.01])
def test_every_layer_uses_the_same_temperature_range(value):
    config = GreyCloudConfig(project_id="p")
    with pytest.raises(ConfigError, match="temperature"):
        GreyCloudConfig(project_id="p", temperature=value)
    with pytest.raises(ConfigError, match="temperature"):
        prepare_request(config, "hi", temperature=value)
    with pytest.raises(ValueError, match="temperature: must be between 0 and 2"):
        GenerateArgs(prompt="hi", temperature=value)
    with pytest.raises(ValueError, match="temperature: must be between 0 and 2"):
        Settings(temperature=value)
    for edge in (TEMPERATURE.low, TEMPERATURE.high):
        GenerateArgs(prompt="hi", temperature=edge)
        prepare_request(config, "hi", temperature=edge)


def test_nan_is_outside_every_range():
    for rule in (TEMPERATURE, TOP_P, NON_NEGATIVE, IDLE_TIMEOUT):
        assert not rule.admits(float("nan"))
    with pytest.raises(ConfigError, match="temperature"):
        GreyCloudConfig(project_id="p", temperature=float("nan"))
    with pytest.raises(SystemExit, match="idle timeout must be a number of seconds"):
        idle_timeout("nan")
    assert idle_timeout("0") == 0.0 and idle_timeout(str(IDLE_TIMEOUT.high)) == IDLE_TIMEOUT.high
    with pytest.raises(SystemExit, match="between 0 and 604800"):
        idle_timeout(str(IDLE_TIMEOUT.high + 1))


def test_top_p_range_in_requests():
    config = GreyCloudConfig(project_id="p")
    assert prepare_request(config, "hi", top_p=TOP_P.high).config.top_p == 1.0
    with pytest.raises(ConfigError) as error:
        prepare_request(config, "hi", top_p=1.01)
    assert error.value.field == "top_p"


def test_server_settings_check_uses_the_error_field():
    previous = Settings(endpoint="http://127.0.0.1:1/")
    problems: list[SettingsProblem] = []
    settings = check_with_config(Settings(endpoint="not a url"), previous, problems)
    assert settings.endpoint == "http://127.0.0.1:1/"
    assert [p.key for p in problems] == ["endpoint"]
    assert "not a URL" in problems[0].message


def test_server_settings_check_reports_the_environment(monkeypatch):
    monkeypatch.setenv("GREYCLOUD_TPM", "lots")
    problems: list[SettingsProblem] = []
    check_with_config(Settings(), Settings(), problems)
    assert [p.key for p in problems] == ["environment"]
    assert "GREYCLOUD_TPM" in problems[0].message


@pytest.mark.parametrize(
    ("secret", "payload"),
    [
        (FAKE_API_KEY, FAKE_API_KEY[4:]),
        ("ya29.a0AfH6SMBx-secret-token-value", "a0AfH6SMBx"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----", "MIIabc"),
        ('{"type": "service_account", "private_key": "MIIxyz"}', "MIIxyz"),
    ],
)
def test_one_list_of_credential_shapes_for_logs_and_uploads(secret, payload):
    text = f"before {secret} after"
    assert contains_secret(text)
    cleaned = redact(text)
    assert payload not in cleaned
    assert cleaned.startswith("before ") and cleaned.endswith(" after")


def test_labelled_values_are_masked_but_do_not_make_a_file_secret():
    source = "api_key = os.environ['KEY']\nheaders = {'Authorization': f'Bearer {token}'}"
    assert not contains_secret(source)
    assert "os.environ" not in redact("api_key=os.environ")
    assert "abc.def" not in redact("Authorization: Bearer abc.def")


def test_cut_off_private_key_is_masked_to_the_end():
    assert redact("key: -----BEGIN PRIVATE KEY-----\nMIIsecret") == "key: <private key>"


def _vscode_bounds() -> list[tuple[str, dict]]:
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    properties = package["contributes"]["configuration"]["properties"]
    return [
        (name.removeprefix("greycloud."), spec)
        for name, spec in properties.items()
        if "minimum" in spec or "maximum" in spec
    ]


def _layer(key: str, value: object) -> dict:
    head, _, rest = key.partition(".")
    return {head: _layer(rest, value)} if rest else {head: value}


@pytest.mark.parametrize(("key", "spec"), _vscode_bounds(), ids=lambda v: str(v)[:30])
def test_vscode_settings_schema_matches_the_servers_rules(key, spec):
    step = 1 if "integer" in spec["type"] else 0.01
    for edge in (spec.get("minimum"), spec.get("maximum")):
        if edge is not None:
            _, problems = resolve([_layer(key, edge)], None)
            assert problems == [], (
                f"{key}={edge} is in the VS Code schema but the server rejects it"
            )
    outside = [spec["minimum"] - step] if "minimum" in spec else []
    outside += [spec["maximum"] + step] if "maximum" in spec else []
    for value in outside:
        _, problems = resolve([_layer(key, value)], None)
        assert [p.key for p in problems] == [key], (
            f"{key}={value} passes the server, not the schema"
        )
