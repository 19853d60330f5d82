"""The live figures of one server, in the Prometheus text format (``GET /metrics``).

Counting happens on the hot paths (every frame in and out, every command), so what is
counted there is a plain ``defaultdict(int)`` keyed by its labels: an addition costs a dict
update (about 60 ns; a ``collections.Counter``'s costs ten times that), not a lock. The
histograms are ``Buckets``, a list of counts indexed by ``bisect`` (prometheus_client's own
``Histogram`` takes a lock and walks its buckets on every observation, and ``labels()``
another lock per command: a tenth of the event loop's work per command).
``prometheus_client`` turns both into metric families when ``/metrics`` is read (a custom
collector). Gauges
are read when scraped, from the parts that own them (the hub's connections, the LAN
throttle), so nothing has to keep them in step.

Names follow Prometheus conventions: the ``tandem_`` prefix, base units (seconds, bytes),
``_total`` for counters. Each server has a registry of its own (several servers run in
one test process).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

#: Seconds: from a few hundred microseconds (a read on an idle server) to seconds (a storm).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
#: Commands committed together in one transaction.
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

Labels = tuple[str, ...]

# No ``_created`` series: a scraper learns a restart from the counters going back to 0.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Buckets:
    """One histogram's observations: a count per bucket and their sum, no lock.

    Observed from one thread at a time (the event loop, or for the commit figures the
    thread that committed, in the connection's turn); a scrape reads the counts as they
    are, as it would between two observations.
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        # counts[i]: observations up to bounds[i] (and above bounds[i - 1]); the last one
        # counts those above every bound.
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound
        # at or above the value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, observations up to le), as a histogram family is given them."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((floatToGoString(bound), float(running)))  # type: ignore[no-untyped-call]
        return out


class Histogram:
    """A named histogram of ``Buckets``, one per label values (none: one ``Buckets``)."""

    def __init__(
        self, name: str, help: str, bounds: tuple[float, ...], labels: tuple[str, ...] = ()
    ) -> None:
        self.name = name
        self.help = help
        self.bounds = bounds
        self.label_names = labels
        self.by_labels: dict[Labels, Buckets] = {}
        self._plain = Buckets(bounds) if not labels else None

    def observe(self, value: float) -> None:
        """Observe into the histogram without labels."""
        plain = self._plain
        assert plain is not None, f"{self.name} has labels"
        plain.observe(value)

    def labels(self, *values: str) -> Buckets:
        found = self.by_labels.get(values)
        if found is None:
            found = self.by_labels[values] = Buckets(self.bounds)
        return found

    def series(self) -> dict[Labels, Buckets]:
        return {(): self._plain} if self._plain is not None else dict(self.by_labels)

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.help, labels=list(self.label_names))
        for key, buckets in sorted(self.series().items()):
            family.add_metric(list(key), buckets.cumulative(), buckets.total)
        return family


@dataclass(frozen=True)
class _Sampled:
    """A figure read when scraped: ``read`` gives a value, or a value per label tuple."""

    name: str
    help: str
    kind: str  # "gauge" or "counter"
    labels: tuple[str, ...]
    read: Callable[[], float | dict[Labels, float]]


class Metrics:
    """Every figure ``/metrics`` shows. Methods run on the server's event loop, except
    ``observe_commit`` (the committing thread, in the connection's turn: one at a time),
    which touches only a histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # Frames and bytes by payload type ("hello", "task_updated", ...).
        self.frames_in: defaultdict[str, int] = defaultdict(int)
        self.bytes_in: defaultdict[str, int] = defaultdict(int)
        self.frames_out: defaultdict[str, int] = defaultdict(int)
        self.bytes_out: defaultdict[str, int] = defaultdict(int)
        # (transport, command, result, code): result "ack" or "reject"; code is the
        # ErrorCode name of a reject, "" for an ack.
        self.commands: defaultdict[Labels, int] = defaultdict(int)
        # (code, reason) of every WebSocket that ended.
        self.disconnects: defaultdict[Labels, int] = defaultdict(int)
        # Subscriptions that asked to resume from a seq, the events replayed to them, and
        # the resyncs (a snapshot instead of a replay), by reason.
        self.resumes = 0
        self.replayed = 0
        self.resyncs: defaultdict[str, int] = defaultdict(int)
        self._sampled: list[_Sampled] = []
        self.command_seconds = Histogram(
            "tandem_command_duration_seconds",
            "Time from a command's arrival to its answer (ack or reject).",
            LATENCY_BUCKETS,
            ("transport", "command"),
        )
        self.fanout_seconds = Histogram(
            "tandem_fanout_duration_seconds",
            "Time from a commit to its event handed to the last subscriber's socket or queue.",
            LATENCY_BUCKETS,
        )
        self.loop_lag_seconds = Histogram(
            "tandem_event_loop_lag_seconds",
            "How late the event loop ran a timer (one is due every tenth of a second): "
            "what any request arriving then waited for the loop.",
            LATENCY_BUCKETS,
        )
        self.commit_seconds = Histogram(
            "tandem_db_commit_duration_seconds",
            "Time one group commit takes, from its first command's run to its commit "
            "(one transaction).",
            LATENCY_BUCKETS,
        )
        self.commit_size = Histogram(
            "tandem_db_commit_group_size",
            "Commands committed together in one transaction.",
            tuple(float(b) for b in GROUP_BUCKETS),
        )
        self.histograms = (
            self.command_seconds,
            self.fanout_seconds,
            self.loop_lag_seconds,
            self.commit_seconds,
            self.commit_size,
        )
        self.registry.register(_Counted(self))

    # Read when scraped -------------------------------------------------------------

    def sample(
        self,
        name: str,
        help: str,
        read: Callable[[], float | dict[Labels, float]],
        *,
        kind: str = "gauge",
        labels: tuple[str, ...] = (),
    ) -> None:
        """Show ``read()`` as ``name`` whenever ``/metrics`` is read."""
        self._sampled.append(_Sampled(name, help, kind, labels, read))

    # Counted as it happens -----------------------------------------------------------

    def command_done(self, transport: str, command: str, code: str, seconds: float) -> None:
        self.commands[(transport, command, "reject" if code else "ack", code)] += 1
        self.command_seconds.labels(transport, command).observe(seconds)

    def observe_commit(self, seconds: float, size: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_size.observe(size)

    # What the diagnostics page reads -------------------------------------------------

    def value(self, name: str) -> float:
        """The sum of every sample of ``name`` (a counter's ``_total``, a gauge)."""
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name:
                    total += sample.value
        return total

    def families(self) -> Iterator[Metric]:
        return iter(self.registry.collect())


def _counter(name: str, help: str, labels: Iterable[str], counts: dict[Labels, int]) -> Metric:
    family = CounterMetricFamily(name, help, labels=list(labels))
    for key, value in sorted(counts.items()):
        family.add_metric(list(key), value)
    return family


def _by_type(counts: dict[str, int]) -> dict[Labels, int]:
    return {(kind,): n for kind, n in counts.items()}


class _Counted(Collector):
    """The hot-path counters and the sampled figures, as metric families when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        for histogram in m.histograms:
            yield histogram.family()
        yield _counter(
            "tandem_messages_received",
            "WebSocket messages received, by payload type.",
            ["type"],
            _by_type(m.frames_in),
        )
        yield _counter(
            "tandem_received_bytes",
            "Bytes of WebSocket messages received, by payload type.",
            ["type"],
            _by_type(m.bytes_in),
        )
        yield _counter(
            "tandem_messages_sent",
            "WebSocket messages sent, by payload type (each receiver counted).",
            ["type"],
            _by_type(m.frames_out),
        )
        yield _counter(
            "tandem_sent_bytes",
            "Bytes of WebSocket messages sent, by payload type.",
            ["type"],
            _by_type(m.bytes_out),
        )
        yield _counter(
            "tandem_commands",
            "Commands answered, by transport, command, result (ack, reject) and error code.",
            ["transport", "command", "result", "code"],
            dict(m.commands),
        )
        yield _counter(
            "tandem_disconnects",
            "WebSocket connections ended, by close code and reason.",
            ["code", "reason"],
            dict(m.disconnects),
        )
        yield _counter(
            "tandem_resumes",
            "Subscriptions that asked to resume from a seq.",
            [],
            {(): m.resumes},
        )
        yield _counter(
            "tandem_replayed_events",
            "Change-log events replayed to resuming subscriptions.",
            [],
            {(): m.replayed},
        )
        yield _counter(
            "tandem_resyncs",
            "Subscriptions sent a fresh snapshot instead of a replay, by reason.",
            ["reason"],
            {(reason,): n for reason, n in m.resyncs.items()},
        )
        for s in m._sampled:
            value = s.read()
            if s.kind == "counter":
                family: Metric = CounterMetricFamily(s.name, s.help, labels=list(s.labels))
            else:
                family = GaugeMetricFamily(s.name, s.help, labels=list(s.labels))
            if isinstance(value, dict):
                for key, v in sorted(value.items()):
                    family.add_metric(list(key), v)  # type: ignore[attr-defined]
            else:
                family.add_metric([], value)  # type: ignore[attr-defined]
            yield family
