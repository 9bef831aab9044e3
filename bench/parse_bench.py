"""Messages per second of archive.parse.parse_message against the stdlib parse floor.

The floor is what ../shared/bench/stdlib_floor.py measures: email.message_from_bytes with
policy.default, str() of every header and get_content() of every leaf part. Ingest and
`mailyard reindex` run parse_message on every message, so it should not be slower.

usage: .venv/bin/python bench/parse_bench.py [--corpus small|medium] [--runs 3]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.parse import parse_message  # noqa: E402
from tests.corpus import generated_messages  # noqa: E402


def parse_floor(raw: bytes) -> None:
    """The stdlib floor for one message."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for _name, value in msg.items():
        str(value)
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            part.get_content()
        except Exception:
            pass  # unknown charset or encoding: counted as done, like the floor script


def measure_rate(parse: Callable[[bytes], object], messages: list[bytes], runs: int) -> float:
    """Best messages per second over `runs` passes (the least disturbed one)."""
    best = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        for raw in messages:
            parse(raw)
        best = max(best, len(messages) / (time.perf_counter() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["small", "medium"], default="small")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    messages = generated_messages(args.corpus)
    ours = measure_rate(parse_message, messages, args.runs)
    floor = measure_rate(parse_floor, messages, args.runs)
    print(f"corpus {args.corpus}: {len(messages)} messages, best of {args.runs} runs")
    print(f"parse_message     {ours:8.0f} msgs/s")
    print(f"stdlib floor      {floor:8.0f} msgs/s")
    print(f"ratio             {ours / floor:8.2f}x")


if __name__ == "__main__":
    main()
