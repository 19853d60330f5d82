"""The per-project order of a team server's instance (server.cluster.ordering) and the
other instances' presence (server.cluster.presence), on a log kept in memory: every
arrival order, a lost message, a new epoch."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from tandem.v1 import entities_pb2, events_pb2

from server.cluster.ordering import LogPage, Sequencer
from server.cluster.presence import RemotePresence
from server.domain.events import CommittedEvent
from tests.ws_client import poll_until

P = "project-1"


class Log:
    """A change log as the database keeps it: every seq from 1 to the head."""

    def __init__(self, epoch: str = "e1") -> None:
        self.epoch = epoch
        self.events: list[CommittedEvent] = []
        self.reads = 0

    def commit(self, n: int) -> list[CommittedEvent]:
        made = []
        for _ in range(n):
            seq = len(self.events) + 1
            event = CommittedEvent(P, seq, f"frame {seq}".encode())
            self.events.append(event)
            made.append(event)
        return made

    async def read(self, project_id: str, since: int) -> LogPage:
        self.reads += 1
        await asyncio.sleep(0)
        page = self.events[since : since + 1000]
        return LogPage(self.epoch, len(self.events), page)


class Hub:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.resyncs: list[str] = []

    def deliver(self, events: Sequence[CommittedEvent]) -> None:
        self.seqs.extend(e.seq for e in events)


def make(log: Log, gap: float = 0.02) -> tuple[Sequencer, Hub]:
    hub = Hub()
    seq = Sequencer(hub.deliver, log.read, hub.resyncs.append, gap_seconds=gap)
    return seq, hub


async def test_in_order_events_are_delivered_at_once_without_reading_the_log() -> None:
    log = Log()
    seq, hub = make(log)
    seq.start(P, "e1", 0)
    seq.offer("e1", log.commit(3))
    assert hub.seqs == [1, 2, 3]
    assert log.reads == 0


async def test_an_event_past_a_gap_waits_for_the_missing_one_and_each_goes_once() -> None:
    log = Log()
    seq, hub = make(log, gap=5.0)
    seq.start(P, "e1", 0)
    one, two, three = log.commit(3)
    seq.offer("e1", [three])
    seq.offer("e1", [two])
    assert hub.seqs == []
    seq.offer("e1", [one])
    assert hub.seqs == [1, 2, 3]
    # Its own commit heard again, an old one: dropped.
    seq.offer("e1", [two, three])
    assert hub.seqs == [1, 2, 3]
    assert log.reads == 0


async def test_a_lost_message_costs_one_read_of_the_log() -> None:
    log = Log()
    seq, hub = make(log)
    seq.start(P, "e1", 0)
    events = log.commit(5)
    seq.offer("e1", events[:2])
    seq.offer("e1", events[3:])  # seq 3 never comes
    assert hub.seqs == [1, 2]
    await poll_until(lambda: hub.seqs == [1, 2, 3, 4, 5], timeout=5)
    assert log.reads == 1


async def test_a_long_way_behind_is_read_page_by_page_up_to_the_head() -> None:
    log = Log()
    seq, hub = make(log)
    seq.start(P, "e1", 0)
    log.commit(2500)
    seq.offer("e1", [log.commit(1)[0]])
    await poll_until(lambda: len(hub.seqs) == 2501, timeout=10)
    assert hub.seqs == list(range(1, 2502))
    assert log.reads == 3


async def test_events_at_or_below_the_start_are_not_delivered() -> None:
    log = Log()
    old = log.commit(4)
    seq, hub = make(log)
    seq.start(P, "e1", 4)
    seq.offer("e1", old)
    seq.offer("e1", log.commit(1))
    assert hub.seqs == [5]


async def test_another_epoch_ends_the_order_and_its_viewers_resync() -> None:
    log = Log()
    seq, hub = make(log)
    seq.start(P, "e1", 0)
    seq.offer("e1", log.commit(1))
    seq.offer("e2", [CommittedEvent(P, 1, b"new history")])
    assert hub.resyncs == [P]
    assert not seq.watching(P)
    assert hub.seqs == [1]


async def test_a_fill_that_finds_another_epoch_resyncs() -> None:
    log = Log()
    seq, hub = make(log)
    seq.start(P, "e1", 0)
    events = log.commit(3)
    log.epoch = "restored"
    seq.offer("e1", [events[2]])
    await poll_until(lambda: hub.resyncs == [P], timeout=5)
    assert hub.seqs == []


async def test_a_failed_read_is_tried_again_and_nothing_is_lost() -> None:
    log = Log()
    fail = [True]

    async def flaky(project_id: str, since: int) -> LogPage:
        if fail[0]:
            fail[0] = False
            raise OSError("the database went away")
        return await log.read(project_id, since)

    hub = Hub()
    seq = Sequencer(hub.deliver, flaky, hub.resyncs.append, gap_seconds=0.01)
    seq.start(P, "e1", 0)
    events = log.commit(3)
    seq.offer("e1", [events[2]])
    await poll_until(lambda: hub.seqs == [1, 2, 3], timeout=5)


async def test_a_fill_cancelled_while_its_order_stands_starts_no_other() -> None:
    """A loop that closes cancels what runs on it, a fill among them: one that then asked
    for another (a read came back short, or a gap waits) would leave a task nobody runs."""
    log = Log()
    reading = asyncio.Event()
    never = asyncio.Event()

    async def stuck(project_id: str, since: int) -> LogPage:
        reading.set()
        await never.wait()
        return await log.read(project_id, since)

    hub = Hub()
    seq = Sequencer(hub.deliver, stuck, hub.resyncs.append, gap_seconds=0.001)
    seq.start(P, "e1", 0)
    events = log.commit(3)
    seq.offer("e1", [events[2]])  # a gap: a fill starts after gap_seconds
    await asyncio.wait_for(reading.wait(), timeout=5)
    seq.fill(P)  # asked again while it reads
    fills = asyncio.all_tasks() - {asyncio.current_task()}
    assert len(fills) == 1
    (fill,) = fills
    fill.cancel()
    await asyncio.gather(fill, return_exceptions=True)
    assert fill.cancelled()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert seq.watching(P) and hub.seqs == []
    # The order still stands: the next arrival fills the gap as before.
    never.set()
    seq.offer("e1", [events[1]])
    await poll_until(lambda: hub.seqs == [1, 2, 3], timeout=5)
    seq.close()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False), st.data())
def test_any_arrival_order_with_losses_and_repeats_gives_every_seq_once_in_order(
    n: int, rnd: random.Random, data: st.DataObject
) -> None:
    async def run() -> None:
        log = Log()
        seq, hub = make(log, gap=0.001)
        seq.start(P, "e1", 0)
        # The drawing may end the example anywhere (each random() is drawn): the order is
        # closed whatever happens, as a server closes it.
        try:
            events = log.commit(n)
            arrivals = [e for e in events if rnd.random() > 0.2]  # some lost
            arrivals += rnd.sample(events, k=min(n, data.draw(st.integers(0, 5))))  # repeats
            rnd.shuffle(arrivals)
            for event in arrivals:
                seq.offer("e1", [event])
                if rnd.random() < 0.3:
                    await asyncio.sleep(0)
            # The last commit always ends up known to the order (the next event or a poll).
            seq.offer("e1", [events[-1]])
            await poll_until(lambda: len(hub.seqs) == n, timeout=5)
            await asyncio.sleep(0.01)
            assert hub.seqs == list(range(1, n + 1))
        finally:
            seq.close()

    asyncio.run(run())


# --- presence of other instances --------------------------------------------------------


def viewer(conn: str, task: str = "", typing: bool = False) -> events_pb2.UserPresence:
    return events_pb2.UserPresence(
        project_id=P,
        connection_id=conn,
        state=events_pb2.PresenceState.PRESENCE_STATE_ONLINE,
        member=entities_pb2.Member(id=f"m-{conn}", display_name=conn),
        viewing_task_id=task,
        typing_comment=typing,
    )


def diff(*changes: events_pb2.UserPresence) -> events_pb2.PresenceDiff:
    return events_pb2.PresenceDiff(project_id=P, changes=list(changes))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_presence_changes_reach_viewers_batched_one_diff_per_tick() -> None:
    sent: list[events_pb2.PresenceDiff] = []
    remote = RemotePresence(sent.append, expiry=3.0)
    remote.diff("i2", diff(viewer("a")))
    remote.diff("i2", diff(viewer("a", task="T1", typing=True), viewer("b")))
    remote.diff("i3", diff(viewer("c")))
    await poll_until(lambda: bool(sent), timeout=5)
    assert len(sent) == 1
    by_conn = {c.connection_id: c for c in sent[0].changes}
    assert set(by_conn) == {"a", "b", "c"}
    assert by_conn["a"].typing_comment and by_conn["a"].viewing_task_id == "T1"
    assert len(remote.entries(P)) == 3


async def test_a_full_list_makes_the_missing_leave_and_silence_expires_an_instance() -> None:
    sent: list[events_pb2.PresenceDiff] = []
    clock = Clock()
    remote = RemotePresence(sent.append, expiry=3.0, clock=clock)
    remote.full("i2", diff(viewer("a"), viewer("b")))
    remote.full("i3", diff(viewer("c")))
    await poll_until(lambda: bool(sent), timeout=5)
    sent.clear()
    remote.full("i2", diff(viewer("a")))  # b left without its diff arriving
    await poll_until(lambda: bool(sent), timeout=5)
    (left,) = sent[0].changes
    assert left.connection_id == "b"
    assert left.state == events_pb2.PresenceState.PRESENCE_STATE_OFFLINE
    sent.clear()
    clock.now += 2.0
    remote.full("i2", diff(viewer("a")))  # i2 goes on; i3 says nothing more
    clock.now += 1.5
    remote.expire()
    await poll_until(lambda: bool(sent), timeout=5)
    assert [(c.connection_id, c.state) for c in sent[0].changes] == [
        ("c", events_pb2.PresenceState.PRESENCE_STATE_OFFLINE)
    ]
    assert [e for e in remote.entries(P)] == [viewer("a").SerializeToString()]
    remote.close()
