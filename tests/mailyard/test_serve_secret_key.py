"""The generated secret key: made once, and never seen half-written or twice different,
however many processes (gunicorn's web workers) ask for it at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from core.settings import Settings, secret_key

PROCESSES = 24


def _read_key_when_released(data_dir: str, barrier, results) -> None:
    barrier.wait()
    try:
        results.put(secret_key(Settings(data_dir=Path(data_dir))))
    except Exception as e:  # noqa: BLE001  reported to the test as what went wrong
        results.put(f"failed: {e!r}")


def test_concurrent_first_reads_in_separate_processes_all_get_the_same_key(tmp_path):
    for attempt in range(5):
        data_dir = tmp_path / f"data{attempt}"  # not created yet, as on a fresh machine
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        workers = [
            context.Process(target=_read_key_when_released, args=(str(data_dir), barrier, results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        keys = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert all(not key.startswith("failed") for key in keys), keys
        assert len(set(keys)) == 1 and len(keys[0]) >= 32
        assert (data_dir / "secret_key").read_text().strip() == keys[0]
        assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
        assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temp file left
