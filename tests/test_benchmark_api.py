"""`swapcast benchmark --api --quick`: one run against a real server it starts, three figures printed."""

from __future__ import annotations

import json
import re

import pytest

from app.cli.main import main


def test_benchmark_api_quick_prints_requests_per_second_and_event_latency(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--api", "--quick"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[1].strip(): line for line in out.splitlines() if line.startswith("  ")}
    status, jobs = rows["GET /api/status"], rows["POST /api/jobs"]  # the routes themselves, nothing in their place
    assert float(re.search(r"([\d,.]+) req/s", status).group(1).replace(",", "")) > 0
    assert float(re.search(r"([\d,.]+) jobs/s", jobs).group(1).replace(",", "")) > 0
    latency = [line for line in out.splitlines() if "progress → /api/events" in line]
    assert len(latency) == 2
    for line in latency:
        p50, p95 = (float(x) for x in re.search(r"p50 ([\d.]+) ms\s+p95 ([\d.]+) ms", line).groups())
        assert 0 < p50 <= p95


def test_benchmark_api_json_has_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--api", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["mode"] == "api" and result["status_requests"] > 0 and result["jobs_posted"] > 0
    assert result["status_endpoint"] == "GET /api/status" and result["jobs_path"] == "POST /api/jobs"
    assert result["status_rps"] > 0 and result["jobs_per_s"] > 0
    assert 0 < result["event_ms_p50"] <= result["event_ms_p95"] and result["event_samples"] > 0
    assert 0 < result["remote_event_ms_p50"] <= result["remote_event_ms_p95"] and result["remote_samples"] > 0


def test_quick_without_api_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--quick goes with --api" in err
