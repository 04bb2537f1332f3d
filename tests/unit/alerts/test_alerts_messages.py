"""The alert message: its wording per kind, its JSON in the outbox, and the payloads that
earlier versions stored (which must read back and render as they were written)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage, RoleGrant
from watcher.alerts.render import remediation, render

URL = "http://127.0.0.1:9/project/acme-tools/1.0/"
PREFIX = AlertMatch("acme", "acme", "prefix", "under the internal namespace 'acme'-*", "high")
TYPO = AlertMatch("acme-billing", "Acme_Billing", "typo", "one edit from 'acme-billing'", "medium")


def message(kind: AlertKind, **overrides: Any) -> AlertMessage:
    values: dict[str, Any] = {
        "kind": kind,
        "public_name": "acme-tools",
        "display_name": "Acme_Tools",
        "matches": [PREFIX],
        "severity": "high",
        "project_url": URL,
        "source": "feed:updates",
        "version": "1.0",
    }
    values.update(overrides)
    return AlertMessage(**values)


def full(kind: AlertKind) -> AlertMessage:
    """A message with every field set (grants only where they belong)."""
    return message(
        kind,
        matches=[PREFIX, TYPO],
        change="add Owner mallory",
        summary="Totally legit tools",
        author="Mallory",
        owners=["mallory", "eve"],
        organization="evil-org",
        first_release="2024-05-01T00:00:00+00:00",
        grants=[RoleGrant("Owner", "mallory"), RoleGrant("Maintainer", "eve")]
        if kind == AlertKind.OURS
        else [],
    )


# --- the stored JSON ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AlertKind))
def test_payload_round_trips_for_every_kind(kind: AlertKind) -> None:
    for original in (full(kind), message(kind, version=None, project_url=None)):
        payload = original.to_payload()
        # What the outbox stores survives the JSON column unchanged.
        stored = json.loads(json.dumps(payload))
        assert stored == payload
        back = AlertMessage.from_payload(stored)
        assert back == original
        assert back.to_payload() == payload
        # For readers of the table: the wording is in the row too.
        assert payload["event"] == kind.value
        assert payload["text"] == original.text
        assert payload["title"] == original.title


# --- the wording: identical to what earlier versions said ---------------------------------

HITS = "internal 'acme' (prefix); internal 'Acme_Billing' (typo)"

# (kind, change, text, title), the texts as the watch pipeline wrote them before messages
# were typed.
OWNER_CHANGE = "add Owner mallory"
WINDOW = "public from 2024-05-01 12:00:00 UTC to 2024-05-01 12:05:00 UTC"
WORDING = [
    (
        AlertKind.NEW,
        None,
        f"Possible squat on PyPI: Acme_Tools 1.0 collides with {HITS}",
        "Possible squat of an internal package",
    ),
    (
        AlertKind.NEW,  # a squat the change log saw change (its first alert says how)
        OWNER_CHANGE,
        f"Possible squat on PyPI: Acme_Tools 1.0 (add Owner mallory) collides with {HITS}",
        "Possible squat of an internal package",
    ),
    (
        AlertKind.RELEASE,
        None,
        f"New release of a reported squat on PyPI: Acme_Tools 1.0 collides with {HITS}",
        "New release of a reported squat",
    ),
    (
        AlertKind.REOPENED,
        None,
        f"Squat back on PyPI: Acme_Tools 1.0 collides with {HITS}",
        "A removed squat is back",
    ),
    (
        AlertKind.OWNER,
        OWNER_CHANGE,
        "Ownership changed on a reported squat on PyPI: Acme_Tools 1.0 (add Owner mallory) "
        f"collides with {HITS}",
        "Ownership change on a squat",
    ),
    (
        AlertKind.CAME_AND_WENT,
        WINDOW,
        "Squat appeared on PyPI and was removed before it was looked at: Acme_Tools 1.0 "
        f"({WINDOW}) collides with {HITS}",
        "A squat came and went",
    ),
    (
        AlertKind.REMOVED,
        None,
        f"Removed from PyPI: acme-tools is gone; resolved its findings against {HITS}",
        "Squat removed from the index",
    ),
    (
        AlertKind.OURS,
        OWNER_CHANGE + "; accepted Maintainer eve",
        "Role change on our own PyPI project: Acme_Tools: add Owner mallory; accepted "
        "Maintainer eve (mallory (Owner), eve (Maintainer) not among our owners)",
        "Role change on our own public project",
    ),
    (
        AlertKind.RISK,  # new with risks from versions: no earlier wording to keep
        None,
        f"Risk rose on a reported squat on PyPI: Acme_Tools 1.0 collides with {HITS}",
        "Risk rose on a reported squat",
    ),
    (
        AlertKind.SOURCE_DOWN,
        "failing since 2024-05-01 12:00 UTC (last load kept): HTTP 503",
        "Watch source failing: Acme_Tools: "
        "failing since 2024-05-01 12:00 UTC (last load kept): HTTP 503",
        "A source is failing",
    ),
    (
        AlertKind.SOURCE_BACK,
        "failing from 2024-05-01 12:00 UTC until 2024-05-01 14:00 UTC",
        "Watch source working again: Acme_Tools: "
        "failing from 2024-05-01 12:00 UTC until 2024-05-01 14:00 UTC",
        "A source recovered",
    ),
]


def test_wording_covers_every_kind() -> None:
    assert {kind for kind, _, _, _ in WORDING} == set(AlertKind)


@pytest.mark.parametrize(("kind", "change", "text", "title"), WORDING)
def test_text_and_title_of_each_kind(
    kind: AlertKind, change: str | None, text: str, title: str
) -> None:
    alert = replace(full(kind), change=change)
    assert alert.text == text
    assert alert.title == title
    assert render(alert)[0] == text
    header = render(alert)[1][0]
    # The risk, what happened and the public project (or the source), as plain text.
    expected = f"{alert.severity.upper()} · {title}: {alert.display_name}"
    assert header == {"type": "header", "text": {"type": "plain_text", "text": expected}}


@pytest.mark.parametrize(
    "kind",
    [
        k
        for k in AlertKind
        if k not in (AlertKind.OURS, AlertKind.SOURCE_DOWN, AlertKind.SOURCE_BACK)
    ],
)
def test_a_squat_collides_with_its_internal_names(kind: AlertKind) -> None:
    assert full(kind).section == "collides with:"


def test_without_release_or_change() -> None:
    alert = message(AlertKind.NEW, version=None, display_name="acme.tools")
    assert alert.text == "Possible squat on PyPI: acme.tools (no release) collides with " + (
        "internal 'acme' (prefix)"
    )
    came = message(
        AlertKind.CAME_AND_WENT,
        version=None,
        change="public from 2024-05-01 12:00:00 UTC to 2024-05-01 12:05:00 UTC",
    )
    assert came.text == (
        "Squat appeared on PyPI and was removed before it was looked at: Acme_Tools "
        "(no release) (public from 2024-05-01 12:00:00 UTC to 2024-05-01 12:05:00 UTC) "
        "collides with internal 'acme' (prefix)"
    )


def test_our_own_project_gained_role_holders() -> None:
    alert = full(AlertKind.OURS)
    assert alert.section == "gained role holders who are not among the catalog's owners:"


# --- payloads stored by earlier versions --------------------------------------------------
#
# Transcribed from the watch pipeline before messages were typed (watcher/watch.py:
# Watch._payload, Watch._removal_payload, Watch._ours_payload and its _WORDING): the
# outbox may still hold rows it wrote when the service is upgraded.

_OLD_WORDING = {
    "new": ("Possible squat on PyPI", "Possible squat of an internal package"),
    "release": ("New release of a reported squat on PyPI", "New release of a reported squat"),
    "reopened": ("Squat back on PyPI", "A removed squat is back"),
    "owner": ("Ownership changed on a reported squat on PyPI", "Ownership change on a squat"),
    "came_and_went": (
        "Squat appeared on PyPI and was removed before it was looked at",
        "A squat came and went",
    ),
}


def _old_matches(hits: list[tuple[str, str, str, str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "internal_name": internal,
            "internal_display": display,
            "kind": kind,
            "detail": detail,
            "severity": severity,
        }
        for internal, display, kind, detail, severity in hits
    ]


def old_payload(event: str, *, version: str | None, change: str | None) -> dict[str, Any]:
    """As ``Watch._payload`` built it, for a feed item with JSON-API details."""
    matches = _old_matches(
        [
            ("payments-core", "Payments_Core", "exact", "same canonical name", "critical"),
            ("acme", "acme", "prefix", "under the internal namespace 'acme'-*", "high"),
        ]
    )
    display = "payments.core"
    hits = "; ".join(f"internal {m['internal_display']!r} ({m['kind']})" for m in matches)
    lead, title = _OLD_WORDING[event]
    changed = f" ({change})" if change else ""
    return {
        "event": event,
        "title": title,
        "text": f"{lead}: {display} {version or '(no release)'}{changed} collides with {hits}",
        "change": change,
        "public_name": "payments-core",
        "display_name": display,
        "version": version,
        "source": "feed:updates",
        "severity": "critical",
        "matches": matches,
        "summary": "Totally legit payments",
        "author": "Mallory",
        "owners": ["mallory"],
        "organization": None,
        "project_url": f"http://127.0.0.1:9/project/payments-core/{version}/"
        if version
        else "http://127.0.0.1:9/project/payments-core/",
        "first_release": "2024-05-01T00:00:00+00:00",
    }


def old_removal_payload() -> dict[str, Any]:
    """As ``Watch._removal_payload`` built it."""
    public = "acme-tools"
    hits = [("acme", "prefix"), ("acme-billing", "typo")]
    display = {"acme": "acme", "acme-billing": "Acme_Billing"}
    names = "; ".join(f"internal {display[i]!r} ({k})" for i, k in hits)
    return {
        "event": "removed",
        "title": "Squat removed from the index",
        "text": f"Removed from PyPI: {public} is gone; resolved its findings against {names}",
        "public_name": public,
        "display_name": public,
        "version": None,
        "source": "index",
        "severity": "none",
        "matches": [
            {
                "internal_name": i,
                "internal_display": display[i],
                "kind": k,
                "detail": "finding resolved: the project is no longer on the index",
                "severity": "none",
            }
            for i, k in hits
        ],
        "project_url": f"http://127.0.0.1:9/project/{public}/",
    }


def old_ours_payload() -> dict[str, Any]:
    """As ``Watch._ours_payload`` built it: no "grants", the roles only in the details."""
    name, normalized = "Acme-Public-SDK", "acme-public-sdk"
    detail = "add Owner mallory; accepted Maintainer eve; remove Owner bob"
    strangers = [("Owner", "mallory"), ("Maintainer", "eve")]
    names = ", ".join(f"{user} ({role})" for role, user in strangers)
    return {
        "event": "ours",
        "title": "Role change on our own public project",
        "section": "gained role holders who are not among the catalog's owners:",
        "text": (
            f"Role change on our own PyPI project: {name}: {detail} ({names} not among our owners)"
        ),
        "change": detail,
        "public_name": normalized,
        "display_name": name,
        "version": None,
        "source": "journal",
        "severity": "high",
        "matches": [
            {
                "internal_name": normalized,
                "internal_display": name,
                "kind": "ours",
                "detail": f"{user} became {role}; not one of the catalog's owners",
                "severity": "high",
            }
            for role, user in strangers
        ],
        "project_url": f"http://127.0.0.1:9/project/{normalized}/",
    }


OLD_PAYLOADS = {
    "new": old_payload("new", version="99.0", change=None),
    "new-without-release": old_payload("new", version=None, change=None),
    "release": old_payload("release", version="99.1", change=None),
    "reopened": old_payload("reopened", version="99.0", change=None),
    "owner": old_payload("owner", version="99.0", change="add Owner mallory"),
    "came_and_went": old_payload(
        "came_and_went",
        version=None,
        change="public from 2024-05-01 12:00:00 UTC to 2024-05-01 12:05:00 UTC",
    ),
    "removed": old_removal_payload(),
    "ours": old_ours_payload(),
}


def mrkdwn_section(blocks: list[dict[str, Any]]) -> str:
    text: str = blocks[1]["text"]["text"]
    return text


@pytest.mark.parametrize("name", list(OLD_PAYLOADS))
def test_old_payloads_read_back_and_render_the_same_text(name: str) -> None:
    old = OLD_PAYLOADS[name]
    stored = json.loads(json.dumps(old))  # as the JSON column hands it back
    alert = AlertMessage.from_payload(stored)
    assert alert.kind == AlertKind(old["event"])
    assert alert.text == old["text"]
    assert alert.title == old["title"]
    text, blocks = render(alert)
    assert text == old["text"]
    assert blocks[0]["text"]["text"] == (
        f"{old['severity'].upper()} · {old['title']}: {old['display_name']}"
    )
    # The section as the renderer lays it out: the project, then what it relates to.
    version = f"`{old['version']}`" if old["version"] else "(no release)"
    assert mrkdwn_section(blocks).startswith(
        f"`{old['display_name']}` {version} (<{old['project_url']}|on the index>) "
        f"{old.get('section') or 'collides with:'}\n"
    )
    for match in old["matches"]:
        line = f"• `{match['internal_display']}` — *{match['kind']}*: {match['detail']}"
        assert line in mrkdwn_section(blocks)
    assert alert.public_name == old["public_name"]
    assert alert.severity == old["severity"]
    assert alert.source == old["source"]
    assert alert.change == old.get("change")
    assert alert.project_url == old["project_url"]
    assert [vars(m) for m in alert.matches] == old["matches"]
    # Written again, it still says the same (an upgrade can re-queue it unchanged).
    again = AlertMessage.from_payload(alert.to_payload())
    assert again == alert
    assert again.text == old["text"]


def test_old_ours_payload_renders_the_blocks_a_new_one_does() -> None:
    # Exactly what the renderer makes of this payload (index text in code spans, our link).
    _, blocks = render(AlertMessage.from_payload(old_ours_payload()))
    assert blocks == [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": "HIGH · Role change on our own public project: Acme-Public-SDK",
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "`Acme-Public-SDK` (no release) "
                "(<http://127.0.0.1:9/project/acme-public-sdk/|on the index>) "
                "gained role holders who are not among the catalog's owners:\n"
                "• `Acme-Public-SDK` — *ours*: mallory became Owner; not one of the "
                "catalog's owners\n"
                "• `Acme-Public-SDK` — *ours*: eve became Maintainer; not one of the "
                "catalog's owners",
                "verbatim": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Severity*\nhigh", "verbatim": True},
                {
                    "type": "mrkdwn",
                    "text": "*Change*\n`add Owner mallory; accepted Maintainer eve; "
                    "remove Owner bob`",
                    "verbatim": True,
                },
                {"type": "mrkdwn", "text": "*Seen via*\njournal", "verbatim": True},
            ],
        },
        {
            "type": "context",
            "elements": [_mrkdwn_of(remediation(AlertMessage.from_payload(old_ours_payload())))],
        },
    ]


def test_old_ours_payload_recovers_the_grants_from_the_details() -> None:
    alert = AlertMessage.from_payload(old_ours_payload())
    assert alert.grants == [RoleGrant("Owner", "mallory"), RoleGrant("Maintainer", "eve")]
    assert alert.section == "gained role holders who are not among the catalog's owners:"
    assert alert.to_payload()["grants"] == [
        {"role": "Owner", "user": "mallory"},
        {"role": "Maintainer", "user": "eve"},
    ]


def test_old_removal_payload_has_no_details_and_renders_without_them() -> None:
    alert = AlertMessage.from_payload(old_removal_payload())
    assert (alert.summary, alert.author, alert.owners, alert.organization) == (None, None, [], None)
    assert (alert.first_release, alert.grants) == (None, [])
    fields = [f["text"] for f in render(alert)[1][2]["fields"]]
    assert fields == ["*Severity*\nnone", "*Seen via*\nindex"]


def test_payload_without_event_or_display_name_is_a_new_squat() -> None:
    # The oldest payloads said neither what happened nor a display name.
    old = old_payload("new", version="99.0", change=None)
    del old["event"], old["title"], old["display_name"]
    alert = AlertMessage.from_payload(old)
    assert alert.kind == AlertKind.NEW
    assert alert.title == "Possible squat of an internal package"
    assert alert.display_name == "payments-core"
    assert alert.text == (
        "Possible squat on PyPI: payments-core 99.0 collides with "
        "internal 'Payments_Core' (exact); internal 'acme' (prefix)"
    )


def _mrkdwn_of(text: str | None) -> dict[str, object]:
    assert text is not None
    return {"type": "mrkdwn", "text": text, "verbatim": True}
