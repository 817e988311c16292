"""The jobs' settings: defaults, the environment, and leases that heartbeats can keep."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dockyard.settings import JobSettings, load_settings


def test_defaults_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_CONFIG", raising=False)
    jobs = load_settings().jobs
    assert (jobs.workers, jobs.run_in_serve, jobs.max_attempts) == (2, True, 3)
    assert jobs.lease_seconds >= 2 * jobs.heartbeat_seconds
    monkeypatch.setenv("DOCKYARD_JOBS__WORKERS", "4")
    monkeypatch.setenv("DOCKYARD_JOBS__RUN_IN_SERVE", "false")
    jobs = load_settings().jobs
    assert (jobs.workers, jobs.run_in_serve) == (4, False)


@pytest.mark.parametrize(
    "values",
    [
        {"heartbeat_seconds": 10, "lease_seconds": 15},
        {"workers": 0},
        {"poll_seconds": 0},
        {"max_attempts": 0},
    ],
)
def test_bad_values_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        JobSettings(**values)
