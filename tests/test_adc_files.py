"""Which credentials file an environment selects (each daemon session's own)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from greycloud.adc_files import ADC_FILE_NAME, credentials_file_of, gcloud_adc_file


@pytest.mark.skipif(os.name == "nt", reason="POSIX layout")
def test_gcloud_keeps_its_adc_file_under_cloudsdk_config_else_home(tmp_path):
    assert gcloud_adc_file({"HOME": "/home/me"}) == (
        Path("/home/me/.config/gcloud") / ADC_FILE_NAME
    )
    assert gcloud_adc_file({"HOME": "/home/me", "CLOUDSDK_CONFIG": str(tmp_path)}) == (
        tmp_path / ADC_FILE_NAME
    )
    assert gcloud_adc_file({}) is None


def test_the_variable_wins_then_an_existing_adc_file(tmp_path):
    environ = {"CLOUDSDK_CONFIG": str(tmp_path)}
    assert credentials_file_of(environ) is None  # no login in this gcloud config
    (tmp_path / ADC_FILE_NAME).write_text("{}")
    assert credentials_file_of(environ) == str(tmp_path / ADC_FILE_NAME)
    explicit = {**environ, "GOOGLE_APPLICATION_CREDENTIALS": "/keys/ci.json"}
    assert credentials_file_of(explicit) == "/keys/ci.json"
