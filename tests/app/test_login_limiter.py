"""The login limiter: locks per name and address, per address for sprays, bounded memory that never
forgets a real user's lock."""

from __future__ import annotations

import pytest

from app.security import LoginRateLimiter


def _limiter() -> LoginRateLimiter:
    return LoginRateLimiter(limit=5, window_s=300, ip_limit=50)


def test_given_a_locked_user_when_100001_made_up_names_fail_elsewhere_then_the_lock_holds() -> None:
    lim = _limiter()
    for _ in range(5):
        lim.failed("alice", "10.0.0.1", known=True, now=0.0)
    assert lim.retry_after("alice", "10.0.0.1", now=1.0) > 0
    for n in range(100_001):  # from many addresses, so that no address lock hides the answer
        lim.failed(f"made-up-{n}", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", known=False, now=1.0)
    assert lim.retry_after("alice", "10.0.0.1", now=2.0) > 0
    assert len(lim._unknown) <= lim.max_keys and len(lim._ips) <= lim.max_keys


@pytest.mark.parametrize("known", [True, False])
def test_given_five_failures_of_one_name_when_asked_then_locked_whether_or_not_it_exists(known: bool) -> None:
    lim = _limiter()
    for _ in range(5):
        assert lim.retry_after("bob", "10.0.0.1", now=0.0) == 0
        lim.failed("bob", "10.0.0.1", known=known, now=0.0)
    assert lim.retry_after("BOB", "10.0.0.1", now=10.0) == 291
    assert lim.retry_after("bob", "10.0.0.2", now=10.0) == 0  # another address is not locked out
    assert lim.retry_after("bob", "10.0.0.1", now=300.0) == 0  # the window has passed


def test_given_made_up_names_sprayed_from_one_address_when_over_the_address_limit_then_it_is_locked() -> None:
    lim = _limiter()
    for n in range(50):
        lim.failed(f"guess{n}", "10.0.0.9", known=False, now=float(n))
    assert lim.retry_after("anyone", "10.0.0.9", now=60.0) > 0
    assert lim.retry_after("anyone", "10.0.0.8", now=60.0) == 0
    assert lim.retry_after("anyone", "10.0.0.9", now=301.0) == 0  # the oldest failure left the window


def test_given_a_success_when_the_user_signs_in_then_their_failures_are_forgotten() -> None:
    lim = _limiter()
    for _ in range(4):
        lim.failed("carol", "10.0.0.1", known=True, now=0.0)
    lim.succeeded("carol", "10.0.0.1")
    lim.failed("carol", "10.0.0.1", known=True, now=1.0)
    assert lim.retry_after("carol", "10.0.0.1", now=1.0) == 0


def test_given_a_name_locked_from_two_addresses_when_an_admin_unlocks_it_then_both_lift_and_others_stay() -> (
    None
):
    lim = _limiter()
    for ip in ("10.0.0.1", "10.0.0.2"):
        for _ in range(5):
            lim.failed("Carol", ip, known=True, now=0.0)
    for _ in range(5):
        lim.failed("dave", "10.0.0.1", known=True, now=0.0)
    assert lim.locked("carol", now=1.0) and lim.locked("dave", now=1.0)
    assert lim.unlock("CAROL") == 2
    assert not lim.locked("carol", now=1.0)
    assert lim.retry_after("carol", "10.0.0.2", now=1.0) == 0
    assert lim.locked("dave", now=1.0)  # another user's lock is not touched
    assert not lim.locked("dave", now=301.0)  # and a lock ends with its window anyway


def test_given_four_failures_when_asked_then_not_locked_and_nothing_to_unlock() -> None:
    lim = _limiter()
    for _ in range(4):
        lim.failed("erin", "10.0.0.1", known=True, now=0.0)
    assert not lim.locked("erin", now=1.0)
    assert lim.unlock("nobody") == 0
