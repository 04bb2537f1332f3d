"""Messages that stand for many alerts: the first start's baseline summary, a digest of a
flood, the daily digest of low-risk alerts, and the parts of a digest's list (its thread).

Like :mod:`watcher.alerts.render`, everything that came from the index (names, versions,
internal names shown next to them) is clipped, escaped and put in code spans; counts and
our own wording are the only other text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from watcher.alerts.messages import AlertMessage
from watcher.alerts.render import code_span, escape, mrkdwn
from watcher.matching.model import Risk

TOP_ITEMS = 10
"""Items a summary or digest shows itself; its thread (or the findings list) has the rest."""
LIST_PART = 30
"""Items per message of a digest's list in its thread."""
LIST_HINT = "List them all with `watcher findings list` or the HTTP API's `GET /v1/findings`."

_SECTION_MAX = 3000
_NAME_MAX = 80
_MATCHES_SHOWN = 3


class DigestKind(StrEnum):
    """Which message of many alerts (stored as the payload's ``event``)."""

    BASELINE = "baseline"  # what the first start found on the index, once
    FLOOD = "digest"  # more alerts at once than the channel should get one by one
    DAILY = "daily"  # the alerts below the minimum risk, once a day
    LIST = "list"  # one part of a digest's full list, in its thread


_TITLES = {
    DigestKind.BASELINE: "First look at the index: collisions that already exist",
    DigestKind.FLOOD: "Many alerts at once",
    DigestKind.DAILY: "Daily digest of alerts below the minimum risk",
    DigestKind.LIST: "Alerts in this digest",
}


def risk_rank(value: str | None) -> int:
    """A risk's order (unknown text ranks lowest)."""
    try:
        return int(Risk[str(value or "").upper()])
    except KeyError:
        return -1


@dataclass(frozen=True)
class DigestItem:
    """One alert as a line of a digest."""

    event: str
    public_name: str
    display_name: str
    version: str | None
    severity: str
    matches: list[str]  # "internal (kind)", as many as shown

    @classmethod
    def of(cls, message: AlertMessage) -> DigestItem:
        """The line for ``message`` (values bounded: a digest's payload stays small)."""
        return cls(
            event=str(message.kind),
            public_name=message.public_name[:_NAME_MAX],
            display_name=(message.display_name or message.public_name)[:_NAME_MAX],
            version=message.version[:_NAME_MAX] if message.version else None,
            severity=message.severity[:16],
            matches=[
                f"{m.internal_display[:_NAME_MAX]} ({m.kind[:32]})"
                for m in message.matches[:_MATCHES_SHOWN]
            ],
        )


def _ranked(items: Iterable[DigestItem]) -> list[DigestItem]:
    return sorted(items, key=lambda i: (-risk_rank(i.severity), i.public_name))


@dataclass(frozen=True)
class Digest:
    """A message standing for ``total`` alerts: counts, and the items it shows."""

    kind: DigestKind
    total: int
    items: list[DigestItem]
    by_risk: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    part: int = 0  # LIST: which part, of ``parts``
    parts: int = 0

    @classmethod
    def of(cls, kind: DigestKind, messages: Sequence[AlertMessage]) -> Digest:
        """A summary or digest of ``messages``: counts by risk and kind, the top items."""
        items = _ranked(DigestItem.of(m) for m in messages)
        kinds: Counter[str] = Counter()
        for message in messages:
            # The baseline counts collisions by how they match; a digest by what happened.
            if kind == DigestKind.BASELINE:
                kinds.update({m.kind for m in message.matches})
            else:
                kinds[str(message.kind)] += 1
        risks = Counter(m.severity or "unknown" for m in messages)
        return cls(
            kind=kind,
            total=len(messages),
            items=items[:TOP_ITEMS],
            by_risk=dict(sorted(risks.items(), key=lambda kv: -risk_rank(kv[0]))),
            by_kind=dict(kinds.most_common()),
        )

    @classmethod
    def parts_of(cls, messages: Sequence[AlertMessage]) -> list[Digest]:
        """The full list of ``messages`` (highest risk first), cut into thread messages."""
        items = _ranked(DigestItem.of(m) for m in messages)
        chunks = [items[i : i + LIST_PART] for i in range(0, len(items), LIST_PART)]
        return [
            cls(kind=DigestKind.LIST, total=len(items), items=c, part=n, parts=len(chunks))
            for n, c in enumerate(chunks, 1)
        ]

    @property
    def severity(self) -> str:
        """The highest risk among the alerts (decides the critical mention)."""
        ranked = [r for r in self.by_risk if risk_rank(r) >= 0] or [i.severity for i in self.items]
        return max(ranked, key=risk_rank, default="")

    @property
    def text(self) -> str:
        """The one-line notification (only counts and our words)."""
        if self.kind == DigestKind.LIST:
            return f"Alerts {self._span()} of {self.total}"
        counts = ", ".join(f"{n} {r}" for r, n in self.by_risk.items()) or "none"
        if self.kind == DigestKind.BASELINE:
            return (
                f"First look at the index: {self.total} public projects collide with internal "
                f"names ({counts}); all are open findings"
            )
        if self.kind == DigestKind.DAILY:
            return f"Daily digest: {self.total} alerts below the minimum risk ({counts})"
        return f"{self.total} alerts at once ({counts}); the full list is in the thread"

    def _span(self) -> str:
        first = (self.part - 1) * LIST_PART + 1
        return f"{first}-{first + len(self.items) - 1}"

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the outbox."""
        return {
            "event": str(self.kind),
            "text": self.text,
            "total": self.total,
            "items": [vars(i) for i in self.items],
            "by_risk": self.by_risk,
            "by_kind": self.by_kind,
            "part": self.part,
            "parts": self.parts,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Digest:
        """Read a stored digest back."""
        return cls(
            kind=DigestKind(payload["event"]),
            total=int(payload.get("total") or 0),
            items=[
                DigestItem(
                    event=str(i.get("event") or ""),
                    public_name=str(i.get("public_name") or ""),
                    display_name=str(i.get("display_name") or i.get("public_name") or ""),
                    version=None if i.get("version") is None else str(i["version"]),
                    severity=str(i.get("severity") or ""),
                    matches=[str(m) for m in i.get("matches") or []],
                )
                for i in payload.get("items") or []
            ],
            by_risk={str(k): int(v) for k, v in (payload.get("by_risk") or {}).items()},
            by_kind={str(k): int(v) for k, v in (payload.get("by_kind") or {}).items()},
            part=int(payload.get("part") or 0),
            parts=int(payload.get("parts") or 0),
        )


def is_digest(payload: dict[str, Any]) -> bool:
    """Whether an outbox payload is a digest's rather than one alert's."""
    return payload.get("event") in {str(k) for k in DigestKind}


def _line(item: DigestItem) -> str:
    version = code_span(item.version, 40) if item.version else "(no release)"
    hits = ", ".join(code_span(m, 100) for m in item.matches)
    return (
        f"• *{escape(item.severity or 'unknown', 16)}* {code_span(item.display_name, _NAME_MAX)} "
        f"{version} — {escape(item.event, 32)}: collides with {hits or 'internal names'}"
    )


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit (each line is far below the limit)."""
    sections: list[str] = []
    for line in lines:
        if sections and len(sections[-1]) + 1 + len(line) <= _SECTION_MAX:
            sections[-1] += "\n" + line
        else:
            sections.append(line[:_SECTION_MAX])
    return [{"type": "section", "text": mrkdwn(s)} for s in sections]


def render_digest(digest: Digest) -> tuple[str, list[dict[str, Any]]]:
    """The notification ``text`` and blocks of a digest."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _TITLES[digest.kind]}}
    ]
    if digest.kind != DigestKind.LIST:
        risks = " · ".join(f"*{escape(r, 16)}* {n}" for r, n in digest.by_risk.items())
        kinds = " · ".join(f"{escape(k, 32)} {n}" for k, n in digest.by_kind.items())
        lines = [f"*{digest.total}* alerts" + (f": {risks}" if risks else "")]
        if kinds:
            lines.append(f"By kind: {kinds}")
        blocks.append({"type": "section", "text": mrkdwn("\n".join(lines)[:_SECTION_MAX])})
        if digest.items:
            shown = f"Top {len(digest.items)} by risk:" if digest.total > len(digest.items) else ""
            blocks += _sections(
                [shown, *map(_line, digest.items)] if shown else [*map(_line, digest.items)]
            )
        if digest.kind == DigestKind.BASELINE:
            note = "They are open findings. " + LIST_HINT
        else:
            note = "The full list is in this message's thread."
        blocks.append({"type": "context", "elements": [mrkdwn(note)]})
    else:
        blocks += _sections([_line(i) for i in digest.items])
        blocks.append(
            {
                "type": "context",
                "elements": [mrkdwn(f"Part {digest.part} of {digest.parts}")],
            }
        )
    return digest.text, blocks
