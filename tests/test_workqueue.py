"""vrrpd.services.workqueue: the per-instance operation queue, asyncio.Queue's semantics at a fraction of its size."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from vrrpd.services.workqueue import WorkQueue


def test_items_come_out_in_order_and_get_waits_for_a_put() -> None:
    async def body() -> list[int]:
        queue: WorkQueue[int] = WorkQueue()
        got: list[int] = []

        async def consumer() -> None:
            while len(got) < 4:
                got.append(await queue.get())
                queue.task_done()

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0)  # the consumer now waits on an empty queue
        for item in (1, 2, 3):
            queue.put_nowait(item)
        await asyncio.sleep(0)
        queue.put_nowait(4)
        await asyncio.wait_for(task, 1)
        assert queue.empty() and len(queue) == 0
        return got

    assert asyncio.run(body()) == [1, 2, 3, 4]


def test_join_returns_once_every_item_put_is_done() -> None:
    async def body() -> None:
        queue: WorkQueue[str] = WorkQueue()
        await asyncio.wait_for(queue.join(), 1)  # nothing put: at once
        queue.put_nowait("a")
        queue.put_nowait("b")
        joined = asyncio.create_task(queue.join())
        also = asyncio.create_task(queue.join())
        assert await queue.get() == "a"
        queue.task_done()
        await asyncio.sleep(0)
        assert not joined.done()  # "b" is not done yet
        assert await queue.get() == "b"
        queue.task_done()
        await asyncio.wait_for(asyncio.gather(joined, also), 1)
        with pytest.raises(ValueError, match="too many times"):
            queue.task_done()

    asyncio.run(body())


def test_a_cancelled_get_takes_nothing_and_the_queue_goes_on() -> None:
    async def body() -> None:
        queue: WorkQueue[int] = WorkQueue()
        waiting = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        queue.put_nowait(7)
        assert await asyncio.wait_for(queue.get(), 1) == 7

    asyncio.run(body())


def test_a_second_consumer_is_refused() -> None:
    async def body() -> None:
        queue: WorkQueue[int] = WorkQueue()
        first = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="one consumer"):
            await queue.get()
        queue.put_nowait(1)
        assert await first == 1

    asyncio.run(body())


def test_it_costs_a_fraction_of_an_asyncio_queue() -> None:
    """Issue #16: one per instance, so its size is paid per instance (allocation sizes are deterministic)."""

    async def allocated(make: type) -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            queues = [make() for _ in range(1000)]
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        assert len(queues) == 1000
        return sum(stat.size_diff for stat in after.compare_to(before, "filename"))

    async def body() -> None:
        ours, theirs = await allocated(WorkQueue), await allocated(asyncio.Queue)
        assert ours * 5 < theirs, (ours, theirs)

    asyncio.run(body())
