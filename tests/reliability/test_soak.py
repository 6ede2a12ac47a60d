"""A small soak: 300 requests, 20% of attempts faulted, one shared limiter."""

from __future__ import annotations

from tests.reliability.soak import run_soak


async def test_soak_with_faults_loses_and_duplicates_nothing(adc_env) -> None:
    report = await run_soak(adc_env, requests=300, fault_rate=0.2)
    print(report.to_json())
    assert report.duplicated_or_lost == 0, report
    assert report.failed == 0, report  # retries absorb every 429/503/drop
    # Only streams cut after text are not retried (by design); that is ~2.5% of requests.
    assert report.success_rate >= 0.93, report
    assert report.succeeded + report.interrupted == report.requests
    assert report.received_429 > 0 and report.quota_429 == 0, report
    assert set(report.injected) >= {"status=429", "status=503", "drop_connection"}
    assert report.attempts > report.requests
