"""What SQLite's processes share: wake-ups over Unix sockets and the write gate."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from flowdeck.store.local_signals import LocalSignalTransport
from flowdeck.store.write_gate import WriteGate


async def test_signals_reach_the_other_processes_of_the_same_database(tmp_path: Path) -> None:
    here, there, elsewhere = (
        LocalSignalTransport(str(tmp_path / "a.db")),
        LocalSignalTransport(str(tmp_path / "a.db")),
        LocalSignalTransport(str(tmp_path / "b.db")),
    )
    got: dict[str, list[str]] = {"here": [], "there": [], "elsewhere": []}
    ready = {name: asyncio.Event() for name in got}
    listeners = [
        asyncio.create_task(t.listen(got[name].append, lambda _c, n=name: ready[n].set()))
        for name, t in (("here", here), ("there", there), ("elsewhere", elsewhere))
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 5)
        await here.send(["wake", "up"])
        for _ in range(200):
            if len(got["there"]) == 2:
                break
            await asyncio.sleep(0.01)
        assert got["there"] == ["wake", "up"]
        assert got["here"] == [] and got["elsewhere"] == []  # not to itself, not to b.db
    finally:
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for t in (here, there, elsewhere):
            await t.close()
    assert list(here.directory.glob("*.sock")) == []  # each listener removed its socket


async def test_a_stale_socket_is_removed_by_the_next_sender(tmp_path: Path) -> None:
    sender = LocalSignalTransport(str(tmp_path / "a.db"))
    sender.directory.mkdir(mode=0o700, exist_ok=True)
    stale = sender.directory / "999999-dead.sock"
    stale.touch()
    await sender.send(["hello"])
    assert not stale.exists()
    await sender.close()


async def test_the_write_gate_is_exclusive_and_taken_in_turns(tmp_path: Path) -> None:
    first, second = WriteGate(str(tmp_path / "db-writer")), WriteGate(str(tmp_path / "db-writer"))
    order: list[str] = []
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the other process's writer waits…
    order.append("first wrote")
    first.release()
    await asyncio.wait_for(waiting, 5)
    order.append("second wrote")
    # …and the first, asking again while the second holds it, waits its turn too.
    again = asyncio.create_task(first.acquire())
    await asyncio.sleep(0.05)
    assert not again.done()
    second.release()
    await asyncio.wait_for(again, 5)
    first.release()
    assert order == ["first wrote", "second wrote"]
    first.close()
    second.close()


async def test_a_writer_that_asks_again_at_once_lets_the_waiting_one_go_first(
    tmp_path: Path,
) -> None:
    # Without turns the greedy writer wins every race (it never gives its thread up). With
    # them the patient one goes first, unless a loaded machine delays its woken thread past
    # the greedy one's next try; so a round may be lost, never all of them.
    rounds = [await _race(tmp_path, f"round{i}-") for i in range(3)]
    assert ["patient", "greedy"] in rounds, rounds


async def _race(folder: Path, prefix: str) -> list[str]:
    path = str(folder / f"{prefix}db-writer")
    greedy, patient = WriteGate(path), WriteGate(path)
    got: list[str] = []
    await greedy.acquire()

    async def take(gate: WriteGate, name: str) -> None:
        await gate.acquire()
        got.append(name)
        await asyncio.sleep(0.02)
        gate.release()

    waiting = asyncio.create_task(take(patient, "patient"))
    await asyncio.sleep(0.05)  # the patient writer is in line now
    greedy.release()
    await take(greedy, "greedy")  # asks again at once: without turns it would win the race
    await waiting
    greedy.close()
    patient.close()
    return got
