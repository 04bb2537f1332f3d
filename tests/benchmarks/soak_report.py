"""The soak benchmark's plan, its measurements and the figures printed from them."""

from __future__ import annotations

import contextlib
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.benchmarks.soak_clients import Answer
from tests.fakes.slack import FakeSlack


@dataclass(frozen=True)
class Plan:
    """The run's sizes and rates."""

    releases: int
    seconds: float
    clients: int
    slice: float
    projects: int
    poll_interval: float
    lookup_delay: float
    wave_size: int
    wave_every: float
    squat_every: float

    @property
    def bound(self) -> float:
        """The alert latency the service must hold: one poll interval plus 2 s."""
        return self.poll_interval + 2.0

    @property
    def waves(self) -> int:
        """Spam waves over the run (none in the baseline slice)."""
        return max(0, int((self.seconds - self.slice) // self.wave_every))


@dataclass
class Squat:
    """One planted squat: its canonical name and when the index published it."""

    name: str
    published: float
    in_wave: bool
    alerts: list[float] = field(default_factory=list)  # Slack receipt times


@dataclass(frozen=True)
class Sample:
    """Resources once a second: the service's, the load generator's and the machine's."""

    time: float
    rss: int | None  # the service's resident set, bytes (None when unknown)
    service_cpu: float | None  # CPU seconds the service used so far
    own_cpu: float  # CPU seconds this process (simulator, Slack, clients) used so far
    lag: float  # how late this process's one-second sleep woke up: its loop's backlog
    load: float  # the machine's one-minute load average


@dataclass
class Record:
    """What the run measured, with wall-clock times."""

    squats: dict[str, Squat] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    api: list[Answer] = field(default_factory=list)
    published: int = 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def collect_alerts(slack: FakeSlack, record: Record) -> Counter[str]:
    """Slack's receipt times by planted squat; other alerts counted by public name."""
    others: Counter[str] = Counter()
    for message in slack.messages:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        name = str(payload.get("public_name"))
        squat = record.squats.get(name)
        if squat is None:
            others[name] += 1
        else:
            squat.alerts.append(float(message["ts"]))
    return others


def _line(label: str, values: Iterable[float], unit: str = "s") -> str:
    got = list(values)
    if not got:
        return f"{label:<44} (none)"
    figures = " ".join(
        f"{name} {_percentile(got, q):7.3f}"
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    )
    return f"{label:<44} {figures} {unit} (n={len(got)})"


def report(plan: Plan, record: Record, t0: float, log: Path, others: Counter[str]) -> None:
    """Print every figure, per slice and overall."""
    slices = max(1, round(plan.seconds / plan.slice))

    def at(t: float) -> int:
        return min(slices - 1, max(0, int((t - t0) // plan.slice)))

    def latencies(squats: Iterable[Squat]) -> list[float]:
        return [s.alerts[0] - s.published for s in squats if s.alerts]

    steady = [s for s in record.squats.values() if not s.in_wave]
    print(f"bound on alert latency (poll interval + 2 s) {plan.bound:10.1f} s")
    print(
        f"{'slice':<14} {'squats':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'bound':>6}"
        f" {'API 200':>8} {'API 503':>8} {'other':>6} {'API p50 s':>9} {'API p99 s':>9}"
    )
    verdicts: list[str] = []
    for k in range(slices):
        lat = latencies(s for s in steady if at(s.published) == k)
        took = [(st, sec) for t, st, sec in record.api if at(t) == k]
        statuses = Counter(st for st, _ in took)
        p99 = _percentile(lat, 0.99)
        holds = "n/a" if not lat else ("holds" if p99 <= plan.bound else "FAILS")
        verdicts.append(holds)
        print(
            f"{_slice(k, plan)} {len(lat):>6} {_percentile(lat, 0.5):7.3f} "
            f"{_percentile(lat, 0.95):7.3f} {p99:7.3f} {_percentile(lat, 1.0):7.3f} {holds:>6}"
            f" {statuses[200]:>8} {statuses[503]:>8}"
            f" {sum(statuses.values()) - statuses[200] - statuses[503]:>6}"
            f" {_percentile([sec for _, sec in took], 0.5):9.3f}"
            f" {_percentile([sec for _, sec in took], 0.99):9.3f}"
        )
    base = latencies(s for s in steady if at(s.published) == 0)
    loaded = latencies(s for s in steady if at(s.published) > 0)
    print(_line("alert latency, baseline (no API client)", base))
    print(_line("alert latency, under API load", loaded))
    ratio = _percentile(loaded, 0.99) / _percentile(base, 0.99) if base and loaded else 0.0
    print(f"{'  p99 ratio to baseline':<44} {ratio:10.2f}")
    judged = [v for v in verdicts[1:] if v != "n/a"]
    print(
        f"{'loaded slices whose p99 holds the bound':<44}",
        f"{judged.count('holds'):>9} of {len(judged)}",
    )
    print(
        _line(
            "alert latency, squats inside spam waves",
            latencies(s for s in record.squats.values() if s.in_wave),
        )
    )
    print(f"{'releases published':<44} {record.published:>10,}")
    print(f"{'planted squats':<44} {len(record.squats):>10}")
    counts = Counter(min(len(s.alerts), 2) for s in record.squats.values())
    print(f"{'  alerted exactly once':<44} {counts[1]:>10}")
    print(f"{'  never alerted':<44} {counts[0]:>10}")
    print(f"{'  alerted more than once':<44} {counts[2]:>10}")
    print(f"{'alerts about anything else':<44} {sum(others.values()):>10}")
    statuses = Counter(st for _, st, _ in record.api)
    for status in sorted(statuses):
        took_s = [sec for _, st, sec in record.api if st == status]
        print(_line(f"API answers {status or 'failed'} ({statuses[status]:,})", took_s))
    _resources(plan, record, slices, at, [t for t in _reconciles(log) if t >= t0])
    _log_figures(log)


def _slice(k: int, plan: Plan) -> str:
    return f"{k * plan.slice:>5.0f}s {'baseline' if k == 0 else 'loaded':<8}"


def _reconciles(log: Path) -> list[float]:
    """When the service finished each whole-index reconcile (epoch seconds)."""
    done = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if str(entry.get("message", "")).startswith("reconciled "):
                done.append(datetime.fromisoformat(entry["time"]).timestamp())
    return done


def _resources(
    plan: Plan, record: Record, slices: int, at: Callable[[float], int], reconciles: list[float]
) -> None:
    """Per slice: the service's peak RSS and CPU and its whole-index reconciles, this
    process's CPU and loop lag, the machine's load; then whether the service's memory
    stayed flat after warm-up."""
    print(
        f"{'slice':<14} {'RSS MiB':>8} {'peak MiB':>8} {'service CPU':>11} {'reconciles':>10}"
        f" {'generator CPU':>13} {'generator lag max s':>19} {'load avg':>8}"
    )
    # The median says what the service holds; the peak, what a whole-index reconcile
    # (tens of MB for a moment) adds on top of it, and gives back.
    medians: list[float] = []
    peaks: list[float] = []
    for k in range(slices):
        got = [s for s in record.samples if at(s.time) == k]
        rss = [s.rss for s in got if s.rss is not None]
        medians.append(statistics.median(rss) / 2**20 if rss else float("nan"))
        peaks.append(max(rss) / 2**20 if rss else float("nan"))
        span = got[-1].time - got[0].time if len(got) > 1 else 0.0
        first, last = (got[0], got[-1]) if got else (None, None)
        service = own = float("nan")
        if first and last and span > 0:
            own = (last.own_cpu - first.own_cpu) / span
            if first.service_cpu is not None and last.service_cpu is not None:
                service = (last.service_cpu - first.service_cpu) / span
        lag = max((s.lag for s in got), default=float("nan"))
        load = max((s.load for s in got), default=float("nan"))
        done = sum(1 for t in reconciles if at(t) == k)
        print(
            f"{_slice(k, plan)} {medians[-1]:8.1f} {peaks[-1]:8.1f} {service:10.0%} {done:>10}"
            f" {own:13.0%}"
            f" {lag:19.3f} {load:8.2f}"
        )
    # Warm-up: the first third of the run (the API's look-up cache, SQLite's page cache
    # and the allocator's arenas fill up), at least the baseline and one loaded slice.
    after = min(max(2, slices // 3), slices - 1)
    print(f"{'service RSS (median), slice after warm-up':<44} {medians[after]:10.1f} MiB")
    print(f"{'service RSS (median), last slice':<44} {medians[-1]:10.1f} MiB")
    ratio = medians[-1] / medians[after]
    print(f"{'  ratio last / after warm-up':<44} {ratio:10.2f}")
    print(f"{'  flat (within 10%)':<44} {'yes' if abs(ratio - 1) <= 0.1 else 'NO':>10}")
    print(f"{'service RSS, highest peak after warm-up':<44} {max(peaks[after:]):10.1f} MiB")


def _log_figures(log: Path) -> None:
    """Polls and failed polls (from the poll summaries), feed failures and overflows, and
    the warnings and errors the service logged, by kind."""
    levels: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    polls = failed = feed_errors = overflows = alerts = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = str(entry.get("message", ""))
        levels[str(entry.get("level"))] += 1
        if message.startswith("ALERT "):
            alerts += 1  # the service logs each alert it sends, as a warning
        elif entry.get("level") in {"WARNING", "ERROR", "CRITICAL"}:
            # Counted by what they say, numbers and names aside.
            kinds[re.sub(r"\d+|'[^']*'|\S+\.xml", "N", message)[:90]] += 1
        summary = re.match(
            r"feeds: (?:first poll|(\d+) polls in)[^:(]*(?:\((\d+) failed\))?", message
        )
        if summary:
            polls += int(summary[1] or 1)
            failed += int(summary[2] or 0)
        elif re.search(r"poll of \S+ feed failed|feed poll|index unreachable", message):
            feed_errors += 1
        elif "feed overflowed" in message:
            overflows += 1
    print(f"{'service log: alerts logged':<44} {alerts:>10}")
    print(f"{'polls in the per-minute summaries':<44} {polls:>10}")
    print(f"{'  failed polls':<44} {failed:>10}")
    print(f"{'service log: feed failure lines':<44} {feed_errors:>10}")
    print(f"{'service log: feed overflows (reconciled)':<44} {overflows:>10}")
    warnings = levels["WARNING"] - alerts
    print(f"{'service log: other warnings / errors':<44} {warnings:>5} / {levels['ERROR']}")
    for kind, count in kinds.most_common(5):
        print(f"    {count:>6} x {kind}")
