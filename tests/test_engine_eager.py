"""start_eagerly: a request answered without waiting needs no task; one that waits gets one."""

from __future__ import annotations

import asyncio

import pytest

from labkit.engine.server import start_eagerly


def test_a_coroutine_that_never_waits_runs_to_the_end_at_once() -> None:
    done: list[str] = []

    async def quick() -> None:
        done.append("answered")

    async def main() -> None:
        assert start_eagerly(quick()) is None
        assert done == ["answered"]  # before any turn of the loop

    asyncio.run(main())


def test_one_that_waits_goes_on_in_a_task_with_the_future_s_result() -> None:
    seen: list[object] = []

    async def waits(fut: asyncio.Future[int]) -> None:
        seen.append("before")
        seen.append(await fut)
        await asyncio.sleep(0)  # a bare yield, too
        seen.append(await asyncio.wait_for(asyncio.sleep(0, "slept"), 1))

    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        task = start_eagerly(waits(fut))
        assert task is not None and seen == ["before"]
        fut.set_result(7)
        await task
        assert seen == ["before", 7, "slept"]

    asyncio.run(main())


def test_a_future_s_error_is_raised_inside_the_coroutine() -> None:
    caught: list[BaseException] = []

    async def waits(fut: asyncio.Future[int]) -> None:
        try:
            await fut
        except ValueError as exc:
            caught.append(exc)

    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        task = start_eagerly(waits(fut))
        fut.set_exception(ValueError("bad"))
        await task
        assert [str(e) for e in caught] == ["bad"]

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []

    async def waits(fut: asyncio.Future[int]) -> None:
        try:
            await fut
        finally:
            cleaned.append("finally ran")

    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        task = start_eagerly(waits(fut))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == ["finally ran"] and fut.cancelled()

    asyncio.run(main())
