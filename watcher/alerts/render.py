"""Turning an alert message into a Slack message (plain ``text`` plus Block Kit).

Everything that came from the index (names, versions, authors, owners, what changed) is
text a squatter chose, shown in our own security channel: it must never act there. So it is
escaped everywhere (``&``, ``<``, ``>``: no mention, no link, no channel ping), shown in code
spans where it sits next to formatting (no bold, italics or strike of its own), every mrkdwn
text is ``verbatim`` (no auto-linked URLs or names), and it never goes into a link target:
the only link is to the project's page, rebuilt from our index's base URL, the canonical
name and a strictly validated version, with a label of our own.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.text import printable

# Block Kit refuses a whole message whose section text exceeds 3000 characters or a field
# 2000; values come from the index (author, version, ...), so a squatter could otherwise
# make their own alert undeliverable. Clip each value before escaping (which can grow it 5x).
_SECTION_MAX = 3000
_VALUE_MAX = 300
_TEXT_MAX = 3000
_URL_MAX = 1000

# What a link may be made of: the index's base URL (host, port, path; no credentials, query
# or fragment), a PEP 503 canonical name and a plain PEP 440-looking version.
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)*")
_CANONICAL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,99}")
_LINK_LABEL = "on the index"

# The alert's buttons (``POST /slack/actions`` reads them back): the block's id, each
# button's action id, and the finding ids joined by commas as each button's value (Slack
# caps a value at 2000 characters: the ids that fit, which is every id of any real alert).
ACTIONS_BLOCK = "watcher_findings"
ACKNOWLEDGE_ACTION = "watcher_acknowledge"
SUPPRESS_ACTION = "watcher_suppress"
_VALUE_LIMIT = 2000


def _clip(value: object, limit: int) -> str:
    # Control characters (a newline would end a code span, or fake a new line) are shown
    # escaped, as on the terminal.
    return printable(value, limit)


def escape(value: object, limit: int = _VALUE_MAX) -> str:
    """``value`` as mrkdwn text that cannot act: one line, clipped, ``&<>`` escaped."""
    # Slack's mrkdwn treats these three as control characters (links, mentions).
    text = _clip(value, limit)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_span(value: object, limit: int = _VALUE_MAX) -> str:
    """``value`` escaped, in a code span: mrkdwn formatting does not apply inside one."""
    # A backtick would close the span early (none is valid in a name or a version).
    return "`" + escape(value, limit).replace("`", "'") + "`"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object of ``text`` (already escaped)."""
    # verbatim: no auto-linking of URLs or channel names, no parsing of bare mentions.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def project_link(message: AlertMessage) -> str | None:
    """The project's page on the index, or ``None`` when the stored URL is not one we built.

    The recorder builds ``<index base>/project/<canonical name>/[<version>/]``; the link is
    rebuilt from those parts, each checked, so that a version can neither end the link nor
    start another (a version that is not plain links to the project instead of the release).
    """
    url = message.project_url
    name = message.public_name
    if not url or len(url) > _URL_MAX or not _CANONICAL.fullmatch(name):
        return None
    version = message.version
    project = f"/project/{name}/"
    # The version as the index client encodes it (one path segment), or as earlier
    # versions of it stored it (raw).
    release = next(
        (
            f"{project}{spelling}/"
            for spelling in ((quote(version, safe=""), version) if version else ())
            if url.endswith(f"{project}{spelling}/")
        ),
        None,
    )
    if release is not None:
        base = url[: -len(release)]
    elif url.endswith(project):
        base, version = url[: -len(project)], None
    else:
        return None
    parts = urlsplit(base)
    if (
        parts.scheme not in ("http", "https")
        or not _HOST.fullmatch(parts.netloc)
        or not _PATH.fullmatch(parts.path)
        or parts.query
        or parts.fragment
        or base != f"{parts.scheme}://{parts.netloc}{parts.path}"
    ):
        return None
    link = f"{base}{project}"
    if version and _VERSION.fullmatch(version):
        link += f"{version}/"
    return link


def _risk_section(message: AlertMessage) -> str | None:
    """Both sides' versions and why the risk is what it is (versions are the index's and
    our index's text: code spans, escaped, clipped)."""
    if not (message.risk_reason or message.public_highest or message.our_highest):
        return None
    lines = []
    if message.risk_reason:
        previous = (
            f" (was {escape(message.previous_severity, 20)})" if message.previous_severity else ""
        )
        lines.append(
            f"*Risk {escape(message.severity, 20)}*{previous}: {escape(message.risk_reason)}"
        )
    public = code_span(message.public_highest, 100) if message.public_highest else "unknown"
    ours = code_span(message.our_highest, 100) if message.our_highest else "unknown"
    sides = f"*Public highest* {public} · *Our highest* {ours}"
    if message.our_versions:
        sides += " (ours: " + ", ".join(code_span(v, 100) for v in message.our_versions[-10:]) + ")"
    lines.append(sides)
    if message.predates:
        lines.append("The public project predates our first internal upload: a real project")
    return "\n".join(lines)


_HEADER_MAX = 150  # Block Kit's limit for a header's text


def header(message: AlertMessage) -> str:
    """The header line: the risk, what happened and the public name (the source for a
    source's notice), e.g. ``HIGH · Possible squat of an internal package: acme-tools``.

    A header is plain text (Slack shows it as it is: no mention, no link); the name is
    clipped, never the risk, so a squatter's long name cannot push the risk out of sight.
    """
    lead = f"{message.severity.upper()} · " if message.severity else ""
    lead += f"{message.title}: "
    name = message.display_name or message.public_name
    return lead + _clip(name, max(1, _HEADER_MAX - len(lead)))


def render(message: AlertMessage) -> tuple[str, list[dict[str, Any]]]:
    """The notification ``text`` (names project, version, internal name, kind) and blocks."""
    name = code_span(message.display_name or message.public_name)
    version = code_span(message.version, 100) if message.version else "(no release)"
    title = name if message.about_a_source else f"{name} {version}"
    link = project_link(message)
    if link:
        title += f" (<{link}|{_LINK_LABEL}>)"
    lines = [
        f"• {code_span(m.internal_display)} — *{escape(m.kind)}*: {escape(m.detail)}"
        for m in message.matches
    ]
    fields = [
        ("Severity", escape(message.severity) if message.severity else None),
        ("Change", code_span(message.change) if message.change else None),
        ("Seen via", escape(message.source) if message.source else None),
        ("Author", code_span(message.author) if message.author else None),
        ("Owners", ", ".join(code_span(o, 100) for o in message.owners[:20]) or None),
        ("Organization", code_span(message.organization) if message.organization else None),
        ("First release", escape(message.first_release) if message.first_release else None),
    ]
    if len(message.owners) > 20:
        fields[4] = ("Owners", f"{fields[4][1]} and {len(message.owners) - 20} more")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header(message)}},
        {
            "type": "section",
            "text": mrkdwn((f"{title} {message.section}\n" + "\n".join(lines))[:_SECTION_MAX]),
        },
        {
            "type": "section",
            "fields": [mrkdwn(f"*{label}*\n{value}") for label, value in fields if value][:10],
        },
    ]
    risk = _risk_section(message)
    if risk:
        blocks.append({"type": "section", "text": mrkdwn(risk[:_SECTION_MAX])})
    if message.summary:
        # plain_text: Slack shows it as it is, mentions and links included as text.
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "plain_text", "text": _clip(message.summary, 2000), "emoji": False}
                ],
            }
        )
    remedy = remediation(message)
    if remedy:
        blocks.append({"type": "context", "elements": [mrkdwn(remedy)]})
    if message.finding_ids:
        blocks.append(_buttons(message.finding_ids))
    return escape(message.text, _TEXT_MAX), blocks


# What to do, by risk: the defences our threat model names (hash pinning, one index
# endpoint) and the index's own process for malicious projects.
_REMEDIES = {
    "critical": (
        "Act now: install only with hashes pinned (`pip install --require-hashes`) and through"
        " one index endpoint that serves our packages first (no `--extra-index-url`); report"
        " the project to the index's security contact."
    ),
    "high": (
        "Pin hashes and install through one index endpoint; check that no lock file or CI job"
        " resolves this name from the public index; report it if it is malicious."
    ),
    "medium": (
        "A look-alike: check that nobody installs it by mistake (requirements, lock files);"
        " report it to the index's security contact if it is malicious."
    ),
    "low": "Near our names: worth a look; report it if it is malicious.",
}


def remediation(message: AlertMessage) -> str | None:
    """One line saying what to do, by risk (none for notices about our own sources)."""
    if message.about_a_source:
        return None
    if message.kind == AlertKind.OURS:
        return (
            "Check the role with the project's owners and remove it if nobody of ours granted"
            " it; rotate the owners' credentials if it looks like a takeover."
        )
    if message.kind == AlertKind.REMOVED:
        return None
    return _REMEDIES.get(message.severity)


def _buttons(finding_ids: list[int]) -> dict[str, Any]:
    value = ""
    for finding_id in finding_ids:
        more = f"{value},{finding_id}" if value else str(finding_id)
        if len(more) > _VALUE_LIMIT:
            break
        value = more
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": label},
                "value": value,
                **({"style": "primary"} if action == ACKNOWLEDGE_ACTION else {}),
            }
            for action, label in (
                (ACKNOWLEDGE_ACTION, "Acknowledge"),
                (SUPPRESS_ACTION, "Suppress"),
            )
        ],
    }


def acted(blocks: list[Any], note: str) -> list[dict[str, Any]]:
    """An alert's blocks (as Slack sent them back) after someone acted on it: without its
    buttons, with ``note`` (who did what, when; escaped here) at the end."""
    kept = [
        b
        for b in blocks
        if isinstance(b, dict) and b.get("block_id") != ACTIONS_BLOCK and b.get("type") != "actions"
    ]
    return [*kept[:48], {"type": "context", "elements": [mrkdwn(escape(note, 2000))]}]
