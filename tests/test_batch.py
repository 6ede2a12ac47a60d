"""GreyCloudBatch against the Vertex emulator and a Cloud Storage emulator, over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.genai import types

from greycloud import GreyCloudConfig, retry
from greycloud.batch import (
    KEY_LABEL,
    BatchJobFailedError,
    BatchTimeoutError,
    GreyCloudBatch,
    publisher_model,
)
from greycloud.emulator.batch_jobs import batch_store
from greycloud.errors import (
    APICallError,
    GreyCloudError,
    PermissionDeniedError,
    RetriesExhaustedError,
)
from greycloud.storage import parse_gs_uri, validate_bucket_name, validate_object_name
from tests.helpers import statuses

MODEL = "gemini-2.5-flash"
SAFETY = [
    types.SafetySetting(
        category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH,
        threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
    )
]


@pytest.fixture
def batch(gcs_env, bucket):
    client = GreyCloudBatch(GreyCloudConfig(model=MODEL))
    yield client
    client.client.close()


def settings(emulator):
    return batch_store(emulator.state)


def read_blob(gcs, uri: str) -> str:
    where = parse_gs_uri(uri)
    return gcs.bucket(where.bucket).blob(where.name).download_as_text()


def input_lines(gcs, job: types.BatchJob) -> list[dict]:
    return [json.loads(line) for line in read_blob(gcs, job.src.gcs_uri[0]).splitlines()]


def text_request(text: str, **config) -> types.InlinedRequest:
    return types.InlinedRequest(
        model=MODEL,
        contents=[{"role": "user", "parts": [{"text": text}]}],
        config=types.GenerateContentConfig(**config) if config else None,
    )


# -- credentials and uploads ------------------------------------------------------


def test_storage_client_uses_the_genai_clients_credentials(batch, monkeypatch):
    genai_credentials = batch.client._api_client._credentials
    assert genai_credentials is not None
    assert batch.credentials is genai_credentials
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    fresh = GreyCloudBatch(batch.config, client=batch.client, credentials=batch.credentials)
    assert fresh.storage_client._credentials is genai_credentials  # built, never called


def test_storage_client_is_anonymous_against_the_emulator(batch, storage_emulator):
    from google.auth.credentials import AnonymousCredentials

    assert isinstance(batch.storage_client._credentials, AnonymousCredentials)
    assert batch.storage_client._connection.API_BASE_URL == storage_emulator


def test_upload_files_returns_name_to_uri(batch, bucket, gcs, tmp_path):
    local = tmp_path / "notes.txt"
    local.write_text("local file")
    uris = batch.upload_files_to_gcs(
        [
            {"name": "data1.json", "content": json.dumps({"key": "value"})},
            {"name": "raw.bin", "content": b"\x00\x01"},
            str(local),
        ],
        bucket_name=bucket,
        prefix="inputs/run1",
    )
    assert uris == {
        "data1.json": f"gs://{bucket}/inputs/run1/data1.json",
        "raw.bin": f"gs://{bucket}/inputs/run1/raw.bin",
        "notes.txt": f"gs://{bucket}/inputs/run1/notes.txt",
    }
    blob = gcs.bucket(bucket).get_blob("inputs/run1/data1.json")
    assert blob.download_as_text() == '{"key": "value"}'
    assert blob.content_type == "application/json"
    assert gcs.bucket(bucket).blob("inputs/run1/notes.txt").download_as_text() == "local file"


def test_upload_one_file(batch, bucket, gcs, tmp_path):
    local = tmp_path / "report.md"
    local.write_text("# Report")
    uri = batch.upload_file_to_gcs(local, blob_name="docs/report.md")
    assert uri == f"gs://{bucket}/docs/report.md"
    assert gcs.bucket(bucket).get_blob("docs/report.md").content_type == "text/markdown"


@pytest.mark.parametrize("name", ["../escape.json", "a/../../b", "/abs.json", "a\\b", "x\nz"])
def test_unsafe_object_names_are_refused(batch, name):
    with pytest.raises(ValueError):
        batch.upload_files_to_gcs([{"name": name, "content": "x"}])


@pytest.mark.parametrize("name", ["UPPER", "ab", "goog-bucket", "bad..dots_", "-start", "1.2.3.4"])
def test_invalid_bucket_names_are_refused(batch, name):
    with pytest.raises(ValueError, match="bucket"):
        batch.upload_files_to_gcs([{"name": "a.txt", "content": "x"}], bucket_name=name)


def test_name_validators():
    assert validate_bucket_name("my-bucket_1.example") == "my-bucket_1.example"
    assert validate_object_name("a/b/c.json") == "a/b/c.json"
    assert parse_gs_uri("gs://bkt-1/a/b/").name == "a/b"
    with pytest.raises(ValueError):
        parse_gs_uri("s3://bucket/key")


def test_missing_bucket_is_a_clear_error(gcs_env, monkeypatch):
    monkeypatch.delenv("BATCH_GCS_BUCKET", raising=False)
    client = GreyCloudBatch(GreyCloudConfig(model=MODEL))
    with pytest.raises(ValueError, match="BATCH_GCS_BUCKET"):
        client.create_batch_job([text_request("hello")])


# -- the JSONL ------------------------------------------------------------------------


def test_jsonl_holds_everything_a_request_can_hold(batch, bucket, gcs):
    uris = batch.upload_files_to_gcs([{"name": "d.json", "content": "{}"}])
    request = types.InlinedRequest(
        model=f"publishers/google/models/{MODEL}",
        contents=[
            {
                "role": "user",
                "parts": [
                    {"text": "Analyze: "},
                    {"file_data": {"file_uri": uris["d.json"], "mime_type": "application/json"}},
                ],
            }
        ],
        metadata={"doc": "d.json"},
        config=types.GenerateContentConfig(
            system_instruction="Answer in one line.",
            temperature=0.2,
            max_output_tokens=256,
            safety_settings=SAFETY,
            thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW),
        ),
    )
    job = batch.create_batch_job([request])
    [line] = input_lines(gcs, job)
    body = line["request"]
    assert line["key"] == "req-000001" and body["labels"][KEY_LABEL] == "req-000001"
    assert line["metadata"] == {"doc": "d.json"}
    file_part = body["contents"][0]["parts"][1]["fileData"]
    assert file_part.get("fileUri", file_part.get("file_uri")) == uris["d.json"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Answer in one line."
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
    ]
    generation = body["generationConfig"]
    assert generation["temperature"] == 0.2 and generation["maxOutputTokens"] == 256
    thinking = generation["thinkingConfig"]
    assert thinking.get("thinkingLevel", thinking.get("thinking_level")) == "LOW"
    assert job.model == f"publishers/google/models/{MODEL}"


def test_dicts_work_in_every_shape(batch, gcs):
    requests = [
        {"contents": [{"role": "user", "parts": [{"text": "snake"}]}], "config": {"seed": 7}},
        {
            "contents": [{"role": "user", "parts": [{"text": "rest"}]}],
            "generationConfig": {"topP": 0.5},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        },
        {"key": "mine", "request": {"contents": [{"role": "user", "parts": [{"text": "line"}]}]}},
    ]
    job = batch.create_batch_job(requests, model=f"publishers/google/models/{MODEL}")
    lines = input_lines(gcs, job)
    assert [line["key"] for line in lines] == ["req-000001", "req-000002", "mine"]
    assert lines[0]["request"]["generationConfig"] == {"seed": 7}
    assert lines[1]["request"]["generationConfig"] == {"topP": 0.5}
    assert lines[1]["request"]["safetySettings"][0]["threshold"] == "BLOCK_NONE"
    assert lines[2]["request"]["labels"] == {KEY_LABEL: "mine"}


def test_model_names_short_or_full():
    assert publisher_model("gemini-2.5-flash") == "publishers/google/models/gemini-2.5-flash"
    assert publisher_model("models/gemini-2.5-flash") == "publishers/google/models/gemini-2.5-flash"
    full = "publishers/google/models/gemini-2.5-pro"
    assert publisher_model(full) == full
    for bad in ("", "../x", "a/b", "m?x=1"):
        with pytest.raises(ValueError):
            publisher_model(bad)


def test_mixed_models_and_empty_batches_are_refused(batch):
    mixed = [text_request("a"), types.InlinedRequest(model="gemini-2.5-pro", contents="b")]
    with pytest.raises(ValueError, match="same model"):
        batch.create_batch_job(mixed)
    with pytest.raises(ValueError, match="No batch requests"):
        batch.create_batch_job([])
    with pytest.raises(ValueError, match="differs"):
        batch.create_batch_job([text_request("a")], model="gemini-2.5-pro")
    with pytest.raises(ValueError, match="duplicate"):
        batch.create_batch_job([{"key": "k", "request": {"contents": "a"}}] * 2)


# -- monitoring --------------------------------------------------------------------------


def test_monitor_reports_each_state_change_and_returns_on_success(batch, gcs_env):
    job = batch.create_batch_job([text_request("hello"), text_request("world")])
    seen: list[str] = []
    polls: list[str] = []
    done = batch.monitor_batch_job(
        job,
        poll_interval=0.01,
        callback=lambda j: seen.append(j.state.value),
        on_poll=lambda j: polls.append(j.state.value),
    )
    assert seen == ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert len(polls) >= 3
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.completion_stats.successful_count == 2
    assert done.output_info.gcs_output_directory.startswith(done.dest.gcs_uri + "/")


def test_slow_jobs_advance_by_polls(batch, gcs_env):
    settings(gcs_env).configure(polls_per_step=3)
    job = batch.create_batch_job([text_request("slow")])
    seen: list[str] = []
    batch.monitor_batch_job(job, poll_interval=0.0, on_poll=lambda j: seen.append(j.state.value))
    assert seen.count("JOB_STATE_RUNNING") == 3
    assert seen[-1] == "JOB_STATE_SUCCEEDED"


def test_failed_job_raises_clearly(batch, gcs_env):
    settings(gcs_env).configure(fail_next="Internal error in the prediction service")
    job = batch.create_batch_job([text_request("doomed")])
    with pytest.raises(BatchJobFailedError, match="FAILED: Internal error") as info:
        batch.monitor_batch_job(job, poll_interval=0.01)
    assert info.value.state == types.JobState.JOB_STATE_FAILED
    assert info.value.job.error.message == "Internal error in the prediction service"
    with pytest.raises(GreyCloudError, match="no results"):
        batch.download_batch_results(info.value.job, "unused.jsonl")


@pytest.mark.parametrize("state", ["JOB_STATE_EXPIRED", "JOB_STATE_CANCELLED"])
def test_expired_and_cancelled_end_monitoring(batch, gcs_env, state):
    settings(gcs_env).configure(final_state=state)
    job = batch.create_batch_job([text_request("late")])
    with pytest.raises(BatchJobFailedError, match=state.removeprefix("JOB_STATE_")):
        batch.monitor_batch_job(job, poll_interval=0.01)
    ended = batch.monitor_batch_job(job.name, poll_interval=0.01, raise_on_failure=False)
    assert ended.state.value == state


def test_cancel_and_list(batch, gcs_env):
    job = batch.create_batch_job([text_request("cancel me")])
    batch.cancel_batch_job(job)
    ended = batch.monitor_batch_job(job, poll_interval=0.01, raise_on_failure=False)
    assert ended.state == types.JobState.JOB_STATE_CANCELLED
    assert job.name in [j.name for j in batch.list_batch_jobs()]
    with pytest.raises(APICallError):
        batch.cancel_batch_job(job)


def test_partially_succeeded_when_a_request_fails(batch, bucket):
    missing = {"file_data": {"file_uri": f"gs://{bucket}/nope.json", "mime_type": "text/plain"}}
    bad = types.InlinedRequest(
        model=MODEL, contents=[{"role": "user", "parts": [{"text": "x"}, missing]}]
    )
    job = batch.create_batch_job([text_request("fine"), bad])
    done = batch.monitor_batch_job(job, poll_interval=0.01)
    assert done.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED
    results = {r.key: r for r in batch.iter_batch_results(done)}
    assert results["req-000001"].ok
    assert not results["req-000002"].ok
    assert "nope.json" in results["req-000002"].error
    assert results["req-000002"].text is None


def test_monitor_timeout_leaves_the_job_running(batch, gcs_env):
    settings(gcs_env).configure(polls_per_step=0)
    job = batch.create_batch_job([text_request("stuck")])
    with pytest.raises(BatchTimeoutError, match="PENDING"):
        batch.monitor_batch_job(job, poll_interval=0.01, timeout=0.05)


# -- results -------------------------------------------------------------------------------


def test_out_of_order_results_are_paired_by_key(batch, gcs_env):
    settings(gcs_env).configure(shuffle_output=True)
    prompts = [f"Question number {i} about topic {i}" for i in range(12)]
    job = batch.create_batch_job([text_request(p) for p in prompts])
    done = batch.monitor_batch_job(job, poll_interval=0.01)
    results = list(batch.iter_batch_results(done))
    assert [r.index for r in results] != list(range(12))  # really shuffled
    for result in results:
        prompt = result.request["contents"][0]["parts"][0]["text"]
        assert prompt == prompts[result.index]
        echo = " ".join(prompt.split()[:5])
        assert result.text.startswith(f"Echo: {echo}.")
    ordered = list(batch.iter_batch_results(done, ordered=True))
    assert [r.key for r in ordered] == [f"req-{i:06d}" for i in range(1, 13)]


def test_results_in_another_bucket_are_found_and_downloaded(batch, other_bucket, gcs, tmp_path):
    job = batch.create_batch_job(
        [text_request("elsewhere")], output_uri=f"gs://{other_bucket}/results/run7"
    )
    done = batch.monitor_batch_job(job, poll_interval=0.01)
    assert done.dest.gcs_uri == f"gs://{other_bucket}/results/run7"
    [uri] = batch.prediction_files(done)
    assert uri.startswith(f"gs://{other_bucket}/results/run7/prediction-model-")
    assert uri.endswith("/predictions.jsonl")
    out = batch.download_batch_results(done.name, tmp_path / "deep" / "out.jsonl")
    lines = [json.loads(line) for line in Path(out).read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["key"] == "req-000001"
    assert lines[0]["response"]["candidates"][0]["content"]["parts"][0]["text"].startswith("Echo:")
    assert not any(p.name.startswith(".out.jsonl") for p in (tmp_path / "deep").iterdir())


def test_download_streams_several_prediction_files(batch, gcs, tmp_path):
    done = batch.monitor_batch_job(batch.create_batch_job([text_request("one")]), 0.01)
    directory = parse_gs_uri(done.output_info.gcs_output_directory)
    gcs.bucket(directory.bucket).blob(
        f"{directory.name}/predictions_0002.jsonl"
    ).upload_from_string('{"key": "extra", "status": "boom"}')
    out = Path(batch.download_batch_results(done, tmp_path / "all.jsonl"))
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines()]
    assert keys == ["req-000001", "extra"]
    with pytest.raises(ValueError, match="directory"):
        batch.download_batch_results(done, tmp_path)


def test_results_without_key_are_paired_by_request(batch, gcs):
    """Output lines that only echo the request still find their input line."""
    done = batch.monitor_batch_job(
        batch.create_batch_job([text_request("alpha"), text_request("beta")]), 0.01
    )
    [uri] = batch.prediction_files(done)
    where = parse_gs_uri(uri)
    blob = gcs.bucket(where.bucket).blob(where.name)
    stripped = []
    for line in blob.download_as_text().splitlines():
        item = json.loads(line)
        item.pop("key")
        item["request"]["labels"] = {}
        stripped.append(json.dumps(item))
    blob.upload_from_string("\n".join(reversed(stripped)) + "\n")
    results = list(batch.iter_batch_results(done))
    assert [r.key for r in results] == ["req-000002", "req-000001"]
    assert results[0].text.startswith("Echo: beta.")


def test_existing_jsonl_uri_is_used_as_is(batch, bucket, gcs):
    line = {"request": {"contents": [{"role": "user", "parts": [{"text": "from file"}]}]}}
    gcs.bucket(bucket).blob("mine/requests.jsonl").upload_from_string(json.dumps(line) + "\n")
    job = batch.create_batch_job(f"gs://{bucket}/mine/requests.jsonl")
    assert job.src.gcs_uri == [f"gs://{bucket}/mine/requests.jsonl"]
    done = batch.monitor_batch_job(job, poll_interval=0.01)
    [result] = batch.iter_batch_results(done)
    assert result.ok and result.index == 0


def test_batch_location_is_used(gcs_env, bucket):
    client = GreyCloudBatch(GreyCloudConfig(model=MODEL, batch_location="europe-west4"))
    job = client.create_batch_job([text_request("eu")])
    assert "/locations/europe-west4/batchPredictionJobs/" in job.name
    client.client.close()


def test_results_of_a_stale_job_object_are_fetched_fresh(batch, tmp_path):
    job = batch.create_batch_job([text_request("stale")])
    batch.monitor_batch_job(job.name, poll_interval=0.01)
    assert job.state == types.JobState.JOB_STATE_PENDING
    out = batch.download_batch_results(job, tmp_path / "r.jsonl")
    assert Path(out).read_text().count("\n") == 1
    [result] = batch.iter_batch_results(job)
    assert result.ok and result.key == "req-000001"


def test_status_reads_retry_transient_failures_under_the_shared_policy(gcs_env, bucket):
    fast = retry.RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02, reauth=False)
    with GreyCloudBatch(GreyCloudConfig(model=MODEL), poll_retry_policy=fast) as batch:
        job = batch.create_batch_job([text_request("flaky")])
        gcs_env.state.add_fault(503, action="batchPredictionJobs.get", times=2)
        done = batch.monitor_batch_job(job.name, poll_interval=0.01)
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        assert statuses(gcs_env, "batchPredictionJobs.get")[:3] == [503, 503, 200]

        gcs_env.state.add_fault(503, action="batchPredictionJobs.get", times=3)
        with pytest.raises(RetriesExhaustedError, match="after 3 attempt"):
            batch.monitor_batch_job(job.name, poll_interval=0.01)


def test_status_reads_do_not_retry_what_cannot_succeed(gcs_env, bucket):
    fast = retry.RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.02, reauth=False)
    with GreyCloudBatch(GreyCloudConfig(model=MODEL), poll_retry_policy=fast) as batch:
        job = batch.create_batch_job([text_request("denied")])
        gcs_env.state.add_fault(403, action="batchPredictionJobs.get", times=1)
        with pytest.raises(PermissionDeniedError):
            batch.monitor_batch_job(job.name, poll_interval=0.01)
        assert statuses(gcs_env, "batchPredictionJobs.get") == [403]
