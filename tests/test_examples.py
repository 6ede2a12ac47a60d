"""The examples in examples/ run as real scripts against the emulators."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from greycloud.emulator.cache_routes import cache_store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 90


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def example_env(gcs_env, bucket, monkeypatch):
    monkeypatch.setenv("GREYCLOUD_MODEL", "gemini-2.5-flash")
    return gcs_env


def test_simple(example_env, tmp_path):
    done = run_example("simple.py", "What is Vertex AI?", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Echo: What is Vertex AI.")
    assert "--- streamed ---" in done.stdout
    assert "The question is 5 tokens long (gemini-2.5-flash)." in done.stdout
    assert len(example_env.state.requests_for("generateContent")) == 1
    assert len(example_env.state.requests_for("streamGenerateContent")) == 1


def test_caching(example_env, tmp_path):
    done = run_example("caching.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Cache created: projects/emulator-project/" in done.stdout
    assert done.stdout.count("Q: ") == 3 and done.stdout.count("A: Echo:") == 3
    assert "Estimated saving for 4 queries" in done.stdout
    assert "Deleted 1 cache(s)" in done.stdout
    assert cache_store(example_env.state).live() == []
    generated = example_env.state.requests_for("generateContent")
    assert len(generated) == 3 and all("cachedContent" in r.body for r in generated)
    assert example_env.state.requests_for("cachedContents.update")[0].body == {"ttl": "7200s"}


def test_batch(example_env, bucket, tmp_path):
    done = run_example("batch.py", "results.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "State: JOB_STATE_SUCCEEDED" in done.stdout
    assert f"Batch results saved to: {tmp_path / 'results.jsonl'}" in done.stdout or (
        "Batch results saved to: results.jsonl" in done.stdout
    )
    lines = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    file_uris = sorted(
        line["request"]["contents"][0]["parts"][1]["fileData"].get("fileUri")
        or line["request"]["contents"][0]["parts"][1]["fileData"]["file_uri"]
        for line in lines
    )
    assert file_uris == [
        f"gs://{bucket}/uploads/data1.json",
        f"gs://{bucket}/uploads/data2.json",
    ]
    assert "req-000001: Echo: Analyze data1json." in done.stdout


def test_batch_without_bucket_says_what_to_set(example_env, monkeypatch, tmp_path):
    monkeypatch.delenv("BATCH_GCS_BUCKET")
    monkeypatch.delenv("GCS_BUCKET")
    done = run_example("batch.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "BATCH_GCS_BUCKET" in done.stderr


def test_embeddings(example_env, tmp_path):
    done = run_example("embeddings.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 documents, 768 dimensions, " in done.stdout
    assert (
        "Closest to 'How do I reuse a long prompt?': Context caching stores a long prompt"
        in done.stdout
    )
    predicts = example_env.state.requests_for("predict")
    assert [len(r.body["instances"]) for r in predicts] == [3, 1]
    assert len(example_env.state.requests_for("countTokens")) == 1


def readme_block_after(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    text = (EXAMPLES.parent / "README.md").read_text()
    after = text[text.index(f"\n{heading}\n") :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


def test_readme_embeddings_example_runs_as_written(example_env, tmp_path):
    script = tmp_path / "readme_embeddings.py"
    script.write_text(readme_block_after("## Embeddings"))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == (
        "Closest: Context caching stores a long prompt once and reuses it across requests."
    )
    assert lines[0].endswith(" tokens in the documents")


def test_json_output(example_env, tmp_path):
    done = run_example("json_output.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary, text = done.stdout.splitlines()[:2]
    recipe = json.loads(text)
    assert summary == (
        f"{recipe['name']}: {recipe['minutes']} minutes, {len(recipe['ingredients'])} ingredients"
    )
    generation = example_env.state.requests_for("generateContent")[0].body["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseSchema"]["required"] == ["name", "minutes", "ingredients"]


def test_function_calling(example_env, tmp_path):
    done = run_example("function_calling.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        'Function get_weather returned {"result": {"city": "Paris", "sky": "sunny", '
    )
    assert "2 model requests, all rate limited" in lines
    assert "The model asks for get_weather({'city': 'Rome'})" in lines
    assert len(example_env.state.requests_for("generateContent")) == 3


def test_chat(example_env, tmp_path):
    done = run_example("chat.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    history = done.stdout.splitlines()[-6:]
    assert [line.split(":")[0] for line in history] == ["user", "model"] * 3
    assert history[1] == "model: calls get_weather({'city': 'Lisbon'})"
    streamed = example_env.state.requests_for("streamGenerateContent")[0].body["contents"]
    assert [c["role"] for c in streamed] == ["user", "model", "user", "model", "user"]


def test_an_example_runs_offline_with_the_documented_command(tmp_path, monkeypatch):
    for name in ("GREYCLOUD_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS", "PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    done = subprocess.run(
        [sys.executable, "-m", "greycloud", "--emulator", "run", str(EXAMPLES / "chat.py")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "model: calls get_weather({'city': 'Lisbon'})" in done.stdout


@pytest.mark.parametrize("name", ["json_output.py", "function_calling.py", "chat.py"])
def test_the_readme_shows_each_example_as_it_runs(name):
    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    source = (EXAMPLES / name).read_text()
    body = source.split('"""', 2)[2].strip() + "\n"  # the script without its docstring
    assert body in blocks, f"README.md's python block for examples/{name} differs from the file"


def test_greycloud_run_imports_modules_beside_the_script_as_python_does(tmp_path):
    """``greycloud run app/main.py`` finds ``app/helper.py`` as ``python app/main.py`` does."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "helper.py").write_text("GREETING = 'hello from helper'\n")
    (app / "main.py").write_text(
        "import sys\nimport helper\n\nprint(helper.GREETING, sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "greycloud", "run", str(app / "main.py"), "x"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hello from helper ['x']" in done.stdout
