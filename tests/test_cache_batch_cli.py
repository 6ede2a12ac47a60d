"""``greycloud cache ...`` and ``greycloud batch ...`` against the emulators."""

from __future__ import annotations

import json

import pytest

from greycloud.cli import main
from greycloud.emulator.batch_jobs import batch_store
from greycloud.emulator.cache_routes import cache_store


@pytest.fixture
def cli_env(gcs_env, bucket, monkeypatch):
    monkeypatch.setenv("GREYCLOUD_MODEL", "gemini-2.5-flash")
    return gcs_env


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def live_caches(emulator) -> list:
    return cache_store(emulator.state).live()


def test_cache_create_list_extend_delete(cli_env, capsys, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(" ".join(f"w{i}" for i in range(1200)))
    code, out, err = run(
        capsys, "cache", "create", str(doc), "--ttl", "600", "--display-name", "cli-doc"
    )
    assert code == 0, err
    name = out.splitlines()[0]
    assert name.startswith("projects/emulator-project/locations/us-central1/cachedContents/")
    [entry] = live_caches(cli_env)
    assert entry.display_name == "cli-doc"
    assert (entry.expire_time - entry.create_time).total_seconds() == pytest.approx(600)

    code, out, _ = run(capsys, "cache", "create", "--text", " ".join(["x"] * 1100))
    assert code == 0
    code, out, _ = run(capsys, "cache", "list")
    assert code == 0 and name in out and "cli-doc" in out and len(out.splitlines()) == 2

    code, out, _ = run(capsys, "cache", "extend", name, "--ttl", "7200")
    assert code == 0 and name in out
    entry = next(e for e in live_caches(cli_env) if e.name == name)
    assert (entry.expire_time - entry.update_time).total_seconds() == pytest.approx(7200)

    code, out, _ = run(capsys, "cache", "delete", "--all", "--display-name", "cli-doc")
    assert code == 0 and "deleted 1 cache" in out
    assert len(live_caches(cli_env)) == 1
    code, out, _ = run(capsys, "cache", "delete", live_caches(cli_env)[0].name)
    assert code == 0 and live_caches(cli_env) == []


def test_cache_cli_errors_are_one_line(cli_env, capsys, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("too short")
    code, _, err = run(capsys, "cache", "create", str(small))
    assert code == 1
    assert err.startswith("greycloud: error:") and "1024" in err and len(err.splitlines()) == 1
    assert "--min-tokens" in err
    code, _, err = run(capsys, "cache", "create", str(small), "--min-tokens", "50")
    assert code == 1 and "can only cache 50 tokens or more" in err
    code, _, err = run(capsys, "cache", "create", str(small), "--min-tokens", "5")
    assert code == 1 and "minimum token count to start caching is 1024" in err  # the API's
    code, _, err = run(capsys, "cache", "delete")
    assert code == 1 and "--all" in err
    code, _, err = run(capsys, "cache", "create")
    assert code == 1 and "nothing to cache" in err


def test_batch_submit_status_wait_download(cli_env, capsys, tmp_path, bucket):
    requests = tmp_path / "requests.jsonl"
    lines = [
        {"contents": [{"role": "user", "parts": [{"text": f"Question {i}"}]}]} for i in range(3)
    ]
    requests.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    batch_store(cli_env.state).configure(polls_per_step=2)
    code, out, err = run(capsys, "batch", "submit", str(requests))
    assert code == 0, err
    job = out.strip()
    assert "/batchPredictionJobs/" in job

    code, out, _ = run(capsys, "batch", "status", job)
    assert code == 0 and out.startswith(f"{job}: PENDING")

    code, out, err = run(capsys, "batch", "wait", job.rsplit("/", 1)[-1], "--poll-interval", "0")
    assert code == 0
    assert "SUCCEEDED" in out and "3 succeeded" in out
    assert "RUNNING" in err  # the progress line

    target = tmp_path / "out" / "results.jsonl"
    code, out, _ = run(capsys, "batch", "download", job, str(target))
    assert code == 0 and out.strip() == str(target)
    keys = sorted(json.loads(line)["key"] for line in target.read_text().splitlines())
    assert keys == ["req-000001", "req-000002", "req-000003"]

    code, out, _ = run(capsys, "batch", "list")
    assert code == 0 and job in out


def test_batch_wait_fails_on_a_failed_job(cli_env, capsys, tmp_path):
    batch_store(cli_env.state).configure(fail_next="quota exhausted for batch")
    requests = tmp_path / "r.jsonl"
    requests.write_text(json.dumps({"contents": "hello"}) + "\n")
    code, out, _ = run(capsys, "batch", "submit", str(requests))
    job = out.strip()
    code, _, err = run(capsys, "batch", "wait", job, "--poll-interval", "0")
    assert code == 1
    assert "FAILED" in err and "quota exhausted for batch" in err


def test_batch_submit_reports_bad_lines(cli_env, capsys, tmp_path):
    requests = tmp_path / "bad.jsonl"
    requests.write_text('{"contents": "ok"}\nnot json\n')
    code, _, err = run(capsys, "batch", "submit", str(requests))
    assert code == 1 and f"{requests}:2" in err
