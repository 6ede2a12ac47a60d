"""The installed package carries its type information (PEP 561)."""

from __future__ import annotations

from pathlib import Path

import greycloud

ROOT = Path(__file__).resolve().parent.parent


def test_py_typed_is_shipped_as_package_data():
    assert (Path(greycloud.__file__).parent / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject[pyproject.index("[tool.setuptools.package-data]") :]
    assert 'greycloud = ["py.typed"]' in section.split("\n[", 1)[0]
