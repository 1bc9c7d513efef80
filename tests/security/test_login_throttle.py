"""Finding 3: the log-in throttle. Rotating X-Forwarded-For allowed unlimited guesses,
one password across many user names was unlimited, a shared proxy let 5 bad guesses
lock a user out for everyone, and parallel log-ins starved the server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest

from api.throttle import LoginBusy, LoginThrottle, PasswordGate
from tests.api.server import serve
from tests.api.world import World
from tests.security.conftest import Clock, log_in, make_app, served

WRONG = "not the password"


def _statuses(url: str, user: str, tries: int, xff: list[str] | None = None) -> list[int]:
    got = []
    with httpx.Client(base_url=url) as client:
        for i in range(tries):
            headers = {"X-Forwarded-For": xff[i % len(xff)]} if xff else None
            got.append(log_in(client, user, WRONG, headers).status_code)
    return got


def test_rotating_x_forwarded_for_does_not_reset_the_count(world: World) -> None:
    clock = Clock(now=1800100000.0)
    addresses = [f"198.51.100.{i}" for i in range(1, 30)]
    with served(world, clock) as url:
        tries = _statuses(url, "admin", 20, addresses)
        assert tries[:5] == [401] * 5 and set(tries[5:]) == {429}
        with httpx.Client(base_url=url) as attacker:  # and then the right password
            right = log_in(attacker, "admin", headers={"X-Forwarded-For": "203.0.113.1"})
            assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1


def test_one_password_across_many_user_names_is_slowed_down(world: World) -> None:
    clock = Clock(now=1800200000.0)
    with served(world, clock) as url, httpx.Client(base_url=url) as sprayer:
        tries = [log_in(sprayer, f"user{i}", WRONG).status_code for i in range(15)]
    assert tries[:10] == [401] * 10 and set(tries[10:]) == {429}


def test_guesses_behind_a_shared_proxy_cannot_lock_the_owner_out(world: World) -> None:
    """With the proxy trusted, the guesser is slowed down by its own address; the owner
    waits at most a minute (the account's cap), however many guesses were made."""
    clock = Clock(now=1800300000.0)
    via = {"trusted_proxies": ["127.0.0.1"]}
    with served(world, clock, **via) as url:
        guesses: list[int] = []
        for _ in range(4):  # 40 guesses, as fast as they are let through
            guesses += _statuses(url, "viewer", 10, ["203.0.113.66"])
            clock.now += 30
        assert guesses.count(429) > 20  # most were refused without a password check
        clock.now += 61
        with httpx.Client(base_url=url) as owner:
            ok = log_in(owner, "viewer", headers={"X-Forwarded-For": "192.0.2.10"})
            assert ok.status_code == 303


def test_untrusted_peers_cannot_pick_their_address(world: World) -> None:
    clock = Clock(now=1800400000.0)
    with served(world, clock) as url:  # no trusted proxies: X-Forwarded-For is ignored
        assert set(
            _statuses(url, f"sprayed{0}", 12, [f"192.0.2.{i}" for i in range(12)][::1])[10:]
        ) == {429}


def test_the_counters_are_shared_by_every_api_process_on_the_case_db(world: World) -> None:
    clock = Clock(now=1800500000.0)
    with serve(make_app(world, clock)) as first, serve(make_app(world, clock)) as second:
        assert _statuses(first, "agent", 5) == [401] * 5
        assert _statuses(second, "agent", 1) == [429]


def test_password_checks_run_a_few_at_a_time_and_the_rest_are_refused() -> None:
    gate = PasswordGate(threads=2, queue=3)
    release, running, peak = threading.Event(), [0], [0]
    lock = threading.Lock()

    def check() -> bool:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1
        return True

    async def flood() -> list[str]:
        outcomes: list[str] = []

        async def one() -> None:
            try:
                await gate.run(check)
                outcomes.append("checked")
            except LoginBusy:
                outcomes.append("busy")

        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(one)
            await anyio.sleep(0.2)
            release.set()
        return outcomes

    outcomes = anyio.run(flood)
    assert peak[0] == 2 and outcomes.count("checked") == 5 and outcomes.count("busy") == 7


def test_a_flood_of_log_ins_gets_answers_not_errors_and_probes_still_answer(
    world: World,
) -> None:
    clock = Clock(now=1800600000.0)
    with served(world, clock) as url:

        def attempt(i: int) -> int:
            with httpx.Client(base_url=url, timeout=60) as client:
                return log_in(client, f"flood{i}", WRONG).status_code

        with ThreadPoolExecutor(30) as pool:
            futures = [pool.submit(attempt, i) for i in range(60)]
            with httpx.Client(base_url=url, timeout=60) as probe:
                assert probe.get("/healthz").status_code == 200
            statuses = {f.result() for f in futures}
    assert statuses <= {401, 429, 503}


@pytest.mark.parametrize("attempts", [0, 4, 5, 8, 40])
def test_the_delay_grows_and_is_capped(world: World, attempts: int) -> None:
    clock = Clock(now=2_100_000_000.0 + attempts * 100_000)
    throttle = LoginThrottle(world.session_factory, clock)
    for i in range(attempts):  # each from another address, each as soon as it is let in
        clock.now += throttle.wait_s(f"cap{attempts}", f"10.9.{i // 250}.{i % 250}")
        assert throttle.admit(f"cap{attempts}", f"10.9.{i // 250}.{i % 250}") == 0
    wait = throttle.wait_s(f"cap{attempts}", "192.0.2.99")  # anyone's wait on the account
    assert wait == {0: 0, 4: 0, 5: 1, 8: 8, 40: 60}[attempts]


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_free_tries(world: World) -> None:
    clock = Clock(now=2_200_000_000.0)
    with served(world, clock) as url:

        def guess(i: int) -> int:
            with httpx.Client(base_url=url, timeout=60) as client:
                headers = {"X-Forwarded-For": f"198.51.100.{i}"}  # ignored: no trusted proxy
                return log_in(client, "burst-target", WRONG, headers).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(guess, range(20)))
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429, 503}
