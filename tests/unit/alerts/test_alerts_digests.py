"""Digest and baseline summary messages: counts, order, parts, and hostile text escaped."""

from __future__ import annotations

import json

from watcher.alerts.digests import LIST_PART, TOP_ITEMS, Digest, DigestKind, render_digest
from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage


def alert(name: str, severity: str, *, version: str = "1.0", kind: str = "prefix") -> AlertMessage:
    return AlertMessage(
        kind=AlertKind.NEW,
        public_name=name,
        display_name=name,
        matches=[AlertMatch("acme", "acme", kind, "under our prefix", severity)],
        severity=severity,
        project_url=None,
        source="index",
        version=version,
    )


def test_a_summary_counts_by_risk_and_kind_and_shows_the_riskiest_ten() -> None:
    messages = [alert(f"acme-{n:02d}", "high") for n in range(30)]
    messages += [alert("acme-billing", "critical", kind="exact"), alert("acme-x", "medium")]
    summary = Digest.of(DigestKind.BASELINE, messages)
    assert summary.total == 32
    assert summary.by_risk == {"critical": 1, "high": 30, "medium": 1}
    assert summary.by_kind == {"prefix": 31, "exact": 1}
    assert len(summary.items) == TOP_ITEMS
    assert summary.items[0].public_name == "acme-billing"
    assert summary.severity == "critical"
    assert summary.text.startswith("First look at the index: 32 public projects collide")
    # Stored and read back as it was.
    assert Digest.from_payload(json.loads(json.dumps(summary.to_payload()))) == summary


def test_the_full_list_is_cut_into_parts_holding_every_alert_once() -> None:
    messages = [alert(f"acme-{n:03d}", "high") for n in range(LIST_PART * 3 + 1)]
    parts = Digest.parts_of(messages)
    assert [p.part for p in parts] == [1, 2, 3, 4]
    assert {p.parts for p in parts} == {4}
    names = [i.public_name for p in parts for i in p.items]
    assert sorted(names) == sorted(m.public_name for m in messages)
    assert len(set(names)) == len(names)
    text, blocks = render_digest(parts[-1])
    assert text == f"Alerts {LIST_PART * 3 + 1}-{LIST_PART * 3 + 1} of {LIST_PART * 3 + 1}"
    assert len(blocks) <= 50


def test_hostile_versions_and_names_are_escaped_and_bounded() -> None:
    hostile = "<!channel> <https://evil.example|click> `*x*`" + "&" * 5000
    messages = [alert(f"acme-{n:02d}", "high", version=hostile) for n in range(LIST_PART)]
    for digest in (Digest.of(DigestKind.FLOOD, messages), *Digest.parts_of(messages)):
        text, blocks = render_digest(digest)
        shown = text + json.dumps(blocks)
        assert "<!channel>" not in shown
        assert "<https://evil" not in shown
        assert "&lt;!channel&gt;" in json.dumps(blocks)
        assert len(blocks) <= 50
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
                assert block["text"]["verbatim"] is True
