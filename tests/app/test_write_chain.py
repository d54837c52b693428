"""The imports' chain of batch writes: in order, one at a time, the parser allowed a few batches ahead."""

from __future__ import annotations

import asyncio

import pytest

from core.write_chain import WriteChain


class Store:
    def __init__(self, fail_on: int | None = None) -> None:
        self.written: list[int] = []
        self.writing = 0
        self.most_at_once = 0
        self.fail_on = fail_on
        self.gate = asyncio.Event()

    async def write(self, n: int) -> None:
        self.writing += 1
        self.most_at_once = max(self.most_at_once, self.writing)
        try:
            await self.gate.wait()
            if n == self.fail_on:
                raise RuntimeError(f"batch {n} refused")
            self.written.append(n)
        finally:
            self.writing -= 1


async def test_given_a_slow_store_when_batches_are_queued_then_the_parser_runs_ahead_by_the_allowed_number():
    store, chain = Store(), WriteChain(ahead=2)
    await chain.put(store.write(1))
    await chain.put(store.write(2))  # two waiting: the parser goes on
    third = asyncio.create_task(chain.put(store.write(3)))
    for _ in range(10):  # loop turns enough for a write to end, were the store not held
        await asyncio.sleep(0)
    assert not third.done()  # a third would be too many ahead: the parser waits for the store

    store.gate.set()
    await third
    await chain.drain()

    assert store.written == [1, 2, 3] and store.most_at_once == 1  # in order, one at a time


async def test_given_a_refused_batch_when_draining_then_its_failure_comes_back_and_later_ones_stay_out():
    store, chain = Store(fail_on=2), WriteChain(ahead=5)
    for n in (1, 2, 3):
        await chain.put(store.write(n))
    store.gate.set()

    with pytest.raises(RuntimeError, match="batch 2 refused"):
        await chain.drain()

    assert store.written == [1]


async def test_given_queued_writes_when_the_parse_fails_then_settle_lets_them_end_quietly():
    store, chain = Store(fail_on=1), WriteChain(ahead=5)
    for n in (1, 2):
        await chain.put(store.write(n))
    store.gate.set()

    await chain.settle()

    assert store.written == [] and store.writing == 0
