"""The VS Code extension declares exactly the server's settings (one list: greycloud_lsp/settings.py).

`package.json` must declare every setting the server reads, with a JSON type that
matches the server's field type, and nothing else outside the extension's own
sections (`CLIENT_SECTIONS` in editors/vscode/src/settings.ts). No Node needed.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path

import attrs

from greycloud.rules import TPM_COUNTS
from greycloud_lsp import settings as server_settings
from greycloud_lsp.common.payload_conversion import camel
from greycloud_lsp.common.payloads import INSERT_MODES

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "editors" / "vscode"
JSON_TYPES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    tuple: "array",
    dict: "object",
}


def manifest_properties() -> dict[str, dict]:
    manifest = json.loads((EXT / "package.json").read_text())
    return manifest["contributes"]["configuration"]["properties"]


def client_sections() -> list[str]:
    source = (EXT / "src" / "settings.ts").read_text()
    match = re.search(r"export const CLIENT_SECTIONS = \[([^\]]*)\]", source)
    assert match, "CLIENT_SECTIONS not found in editors/vscode/src/settings.ts"
    return re.findall(r"'([^']+)'", match.group(1))


def server_fields() -> dict[str, type]:
    """Dotted camelCase key -> field type, from the server's Settings class."""
    out: dict[str, type] = {}

    def walk(cls: type, prefix: str) -> None:
        for field in attrs.fields(cls):
            key = prefix + camel(field.name)
            if attrs.has(field.type):
                walk(field.type, key + ".")
            else:
                out[key] = field.type

    walk(server_settings.Settings, "")
    return out


def json_types(tp: object) -> set[str]:
    """The JSON schema types a Python annotation allows."""
    args = typing.get_args(tp)
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return set().union(*(json_types(a) for a in args))
    if tp is type(None):
        return {"null"}
    origin = typing.get_origin(tp) or tp
    return {JSON_TYPES[origin]}


def test_package_json_declares_exactly_the_server_settings():
    props = manifest_properties()
    sections = client_sections()
    assert sections, "no client sections"
    declared_server = {
        key.removeprefix("greycloud.") for key in props if key.split(".")[1] not in sections
    }
    expected = set(server_fields())
    assert declared_server - expected == set(), (
        "package.json declares settings the server does not read"
    )
    assert expected - declared_server == set(), "server settings missing from package.json"
    for key in props:
        assert key.startswith("greycloud."), key


def test_server_settings_types_and_defaults_match():
    props = manifest_properties()
    for key, tp in server_fields().items():
        prop = props[f"greycloud.{key}"]
        declared = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        allowed = json_types(tp) | {"null"}  # null: leave it to the environment / server default
        if "number" in allowed:
            allowed.add("integer")
        assert set(declared) - allowed == set(), f"{key}: package.json {declared} vs server {tp}"
        assert "null" in declared and prop.get("default") is None, (
            f"{key}: server settings default to null so the server's own default applies"
        )


def test_enums_match_the_server():
    props = manifest_properties()
    modes = [m for m in props["greycloud.tokenCount.mode"]["enum"] if m is not None]
    assert modes == list(server_settings.TOKEN_MODES)
    insert = props["greycloud.codeActions"]["items"]["properties"]["insert"]["enum"]
    assert insert == list(INSERT_MODES)
    counts = [m for m in props["greycloud.tpmCounts"]["enum"] if m is not None]
    assert counts == list(TPM_COUNTS)


def test_lists_of_objects_declare_the_server_fields():
    """E.g. `codeActions: [{title, prompt, insert}]`: the item schema has the server's fields."""
    props = manifest_properties()
    for key, tp in server_fields().items():
        (item,) = typing.get_args(tp)[:1] or (None,)
        if item is None or not attrs.has(item):
            continue
        schema = props[f"greycloud.{key}"]["items"]
        fields = {camel(f.name): f for f in attrs.fields(item)}
        assert set(schema["properties"]) == set(fields), key
        required = {name for name, f in fields.items() if f.default is attrs.NOTHING}
        assert set(schema.get("required", [])) == required, key


def test_client_sections_are_what_the_extension_reads():
    props = manifest_properties()
    sections = client_sections()
    used = {key.split(".")[1] for key in props if key.split(".")[1] in sections}
    assert used == set(sections), "a client section without settings, or one missing"
    for key in ("server.command", "server.pythonPath", "server.emulator", "generate.output"):
        assert f"greycloud.{key}" in props, key
