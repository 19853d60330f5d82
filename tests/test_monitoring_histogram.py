"""The lock-free histograms behind /metrics: Prometheus's bucket rules, and its text format."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.monitoring.metrics import Histogram, Metrics


def samples(metrics: Metrics, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == name:
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_a_value_on_a_bound_counts_in_that_bucket_and_above_all_in_inf() -> None:
    histogram = Histogram("h", "help", (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(value)
    (buckets,) = histogram.series().values()
    assert buckets.cumulative() == [("0.1", 2.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert buckets.total == 0.05 + 0.1 + 0.5 + 1.0 + 7.0


def test_labelled_histograms_are_exported_per_label_in_the_text_format() -> None:
    metrics = Metrics()
    metrics.command_done("ws", "create_task", "", 0.002)
    metrics.command_done("ws", "create_task", "ERROR_CODE_NOT_FOUND", 0.3)
    metrics.command_done("rest", "update_task", "", 0.0001)
    metrics.observe_commit(0.004, 3)
    got = samples(metrics, "tandem_command_duration_seconds")
    ws = (("command", "create_task"), ("transport", "ws"))
    rest = (("command", "update_task"), ("transport", "rest"))
    assert got[("tandem_command_duration_seconds_count", ws)] == 2
    assert got[("tandem_command_duration_seconds_sum", ws)] == 0.302
    bucket = "tandem_command_duration_seconds_bucket"
    assert got[(bucket, (ws[0], ("le", "0.0025"), ws[1]))] == 1
    assert got[(bucket, (ws[0], ("le", "0.5"), ws[1]))] == 2
    assert got[("tandem_command_duration_seconds_count", rest)] == 1
    sizes = samples(metrics, "tandem_db_commit_group_size")
    assert sizes[("tandem_db_commit_group_size_bucket", (("le", "2.0"),))] == 0
    assert sizes[("tandem_db_commit_group_size_bucket", (("le", "4.0"),))] == 1
    assert sizes[("tandem_db_commit_group_size_sum", ())] == 3
