"""Batch processing over Cloud Storage: upload inputs, run a batch job, read the results.

Configuration comes from the environment: PROJECT_ID, LOCATION, BATCH_GCS_BUCKET
(must exist; used for the job's input and output), optionally BATCH_LOCATION and
BATCH_POLL_INTERVAL. With GREYCLOUD_ENDPOINT and STORAGE_EMULATOR_HOST set it runs
against the local emulators.

    python examples/batch.py [RESULTS.jsonl]
"""

from __future__ import annotations

import json
import sys

from google.genai import types

from greycloud import GreyCloudBatch, GreyCloudConfig


def main(argv: list[str]) -> int:
    output_path = argv[0] if argv else "results.jsonl"
    config = GreyCloudConfig()
    if not config.batch_gcs_bucket:
        print("Set BATCH_GCS_BUCKET to an existing bucket.", file=sys.stderr)
        return 2
    batch = GreyCloudBatch(config)

    files = [
        {"name": "data1.json", "content": json.dumps({"key": "value"})},
        {"name": "data2.json", "content": json.dumps({"key2": "value2"})},
    ]
    file_uris = batch.upload_files_to_gcs(files, bucket_name=config.batch_gcs_bucket)

    batch_requests = []
    for filename, gcs_uri in file_uris.items():
        batch_requests.append(
            types.InlinedRequest(
                model=config.model,
                contents=[
                    {
                        "role": "user",
                        "parts": [
                            {"text": f"Analyze {filename}: "},
                            {"file_data": {"file_uri": gcs_uri, "mime_type": "application/json"}},
                        ],
                    }
                ],
                config=types.GenerateContentConfig(temperature=0.2, max_output_tokens=65535),
            )
        )

    batch_job = batch.create_batch_job(batch_requests)
    print(f"Submitted {batch_job.name}")
    batch_job = batch.monitor_batch_job(
        batch_job, callback=lambda job: print(f"State: {job.state.value}")
    )

    output_file = batch.download_batch_results(batch_job, output_path)
    print(f"Batch results saved to: {output_file}")

    for result in batch.iter_batch_results(batch_job, ordered=True):
        answer = result.text if result.ok else f"error: {result.error}"
        print(f"{result.key}: {answer}")
    batch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
