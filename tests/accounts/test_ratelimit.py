"""Rate limits count attempts in the database, so every web worker sees the same count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import ratelimit
from accounts.models import RateLimitHit
from accounts.ratelimit import Limit, RateLimited
from core.db import new_session, utcnow

LIMIT = Limit("test:ip", 3, 600)


def test_the_attempt_after_the_limit_is_refused_until_the_oldest_leaves(session):
    start = utcnow()
    for minute in range(3):
        ratelimit.hit(session, LIMIT, "192.0.2.1", start + timedelta(minutes=minute))
    session.commit()
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit(session, LIMIT, "192.0.2.1", start + timedelta(minutes=3))
    assert refused.value.retry_after == 7 * 60  # the first attempt leaves at minute 10
    assert "3 per 10 minutes" in str(refused.value) and "7 minutes" in str(refused.value)
    ratelimit.hit(session, LIMIT, "192.0.2.1", start + timedelta(minutes=10, seconds=1))


def test_subjects_are_counted_apart_and_case_does_not_matter(session):
    now = utcnow()
    for _ in range(3):
        ratelimit.hit(session, LIMIT, "Ada@Example.org", now)
    ratelimit.hit(session, LIMIT, "bea@example.org", now)
    with pytest.raises(RateLimited):
        ratelimit.check(session, LIMIT, "ada@example.ORG", now)
    ratelimit.check(session, Limit("other:ip", 3, 600), "ada@example.org", now)


def test_the_count_is_shared_between_sessions(session, settings):
    now = utcnow()
    for _ in range(3):
        ratelimit.hit(session, LIMIT, "192.0.2.9", now)
    session.commit()
    other = new_session(settings)  # another gunicorn worker, say
    try:
        with pytest.raises(RateLimited):
            ratelimit.check(other, LIMIT, "192.0.2.9", now)
    finally:
        other.close()


def test_recording_forgets_the_subjects_expired_hits(session):
    now = utcnow()
    long_ago = now - timedelta(seconds=LIMIT.seconds + 60)
    session.add(RateLimitHit(key=LIMIT.key("192.0.2.2"), at=long_ago))
    session.commit()
    ratelimit.record(session, LIMIT, "192.0.2.2", now)
    session.commit()
    assert list(session.scalars(select(RateLimitHit.at))) == [now]


def test_pruning_forgets_every_hit_older_than_the_longest_window(session):
    now = utcnow()
    session.add(RateLimitHit(key="a", at=now - timedelta(seconds=ratelimit.LONGEST + 1)))
    session.add(RateLimitHit(key="b", at=now - timedelta(seconds=60)))
    session.commit()
    assert ratelimit.prune_hits(session, now) == 1
    session.commit()
    assert count(session) == 1


def test_the_hourly_task_prunes_through_the_worker_path(session):
    from accounts.tasks import prune_rate_limits

    old = utcnow() - timedelta(seconds=ratelimit.LONGEST + 1)
    session.add(RateLimitHit(key="gone", at=old))
    session.commit()
    assert prune_rate_limits.delay().get() == 1
    session.expire_all()
    assert count(session) == 0


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(RateLimitHit))
