"""Rendering an alert message into a Slack message: escaping, layout and Block Kit limits."""

from __future__ import annotations

import json
import re
from typing import Any

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage, RoleGrant
from watcher.alerts.render import render

# Block Kit limits (Slack rejects the whole message with invalid_blocks beyond them).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10


def payload(**overrides: Any) -> AlertMessage:
    base: dict[str, Any] = {
        "kind": AlertKind.NEW,
        "public_name": "acme-tools",
        "display_name": "Acme_Tools",
        "version": "1.0",
        "source": "feed:updates",
        "severity": "high",
        "matches": [
            AlertMatch(
                internal_name="acme",
                internal_display="acme",
                kind="prefix",
                detail="under the internal namespace 'acme'-*",
                severity="high",
            )
        ],
        "summary": "Tools",
        "author": "Mallory",
        "owners": ["mallory", "eve"],
        "organization": None,
        "project_url": "http://127.0.0.1:9/project/acme-tools/1.0/",
        "first_release": "2024-05-01T00:00:00+00:00",
    }
    base.update(overrides)
    return AlertMessage(**base)


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        if block.get("text", {}).get("type") == "mrkdwn":
            texts.append(block["text"]["text"])
        texts.extend(f["text"] for f in block.get("fields", []) if f["type"] == "mrkdwn")
    return texts


def check_limits(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_MAX
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= SECTION_TEXT_MAX
            fields = block.get("fields", [])
            assert len(fields) <= FIELDS_MAX
            for field in fields:
                assert len(field["text"]) <= FIELD_TEXT_MAX
        if block["type"] == "context":
            for element in block["elements"]:
                assert len(element["text"]) <= FIELD_TEXT_MAX


def test_text_is_the_message_text_and_blocks_describe_the_squat() -> None:
    text, blocks = render(payload())
    assert text == payload().text
    assert text == "Possible squat on PyPI: Acme_Tools 1.0 collides with internal 'acme' (prefix)"
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Possible squat of an internal package"},
    }
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    section = blocks[1]["text"]["text"]
    assert section.startswith("*<http://127.0.0.1:9/project/acme-tools/1.0/|Acme_Tools 1.0>*")
    assert "`acme`" in section
    assert "*prefix*" in section
    assert "under the internal namespace 'acme'-*" in section
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert fields == [
        "*Severity*\nhigh",
        "*Seen via*\nfeed:updates",
        "*Author*\nMallory",
        "*Owners*\nmallory, eve",
        "*First release*\n2024-05-01T00:00:00+00:00",
    ]  # empty organization left out
    assert blocks[3]["elements"] == [{"type": "plain_text", "text": "Tools"}]
    check_limits(blocks)


def test_control_characters_are_escaped() -> None:
    hostile = "<!channel> & <@U0BOSS|boss> <http://evil.invalid|click>"
    _, blocks = render(
        payload(
            display_name="acme<x>",
            version="1.0<&>",
            author=hostile,
            owners=["<!here>"],
            organization="a&b",
            source="<s>",
            severity="&",
            first_release="<t>",
            matches=[
                AlertMatch(
                    internal_name="acme",
                    internal_display="<acme>",
                    kind="<k>",
                    detail="a > b & c < d",
                    severity="high",
                )
            ],
        )
    )
    texts = mrkdwn_texts(blocks)
    joined = "\n".join(texts)
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS|boss&gt; &lt;http://evil.invalid|click&gt;" in joined
    assert "&lt;!here&gt;" in joined
    assert "a&amp;b" in joined
    assert "`&lt;acme&gt;` — *&lt;k&gt;*: a &gt; b &amp; c &lt; d" in joined
    assert "|acme&lt;x&gt; 1.0&lt;&amp;&gt;>" in joined
    # The only unescaped '<' and '>' are the link we built ourselves.
    link = "<http://127.0.0.1:9/project/acme-tools/1.0/|"
    for text in texts:
        if text.startswith("*" + link):
            title, _, rest = text[len(link) + 1 :].partition(">*")
            text = title + rest
        assert "<" not in text, text
        assert ">" not in text, text
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", text), text


def test_ampersand_is_escaped_once() -> None:
    _, blocks = render(payload(author="&lt; already"))
    assert "*Author*\n&amp;lt; already" in mrkdwn_texts(blocks)


def test_without_version_or_url() -> None:
    _, blocks = render(payload(version=None, project_url=None, summary=None, author=None))
    section = blocks[1]["text"]["text"]
    assert section.startswith("*Acme_Tools no release* collides with:")
    assert "<" not in section
    assert [b["type"] for b in blocks] == ["header", "section", "section"]


def test_display_name_falls_back_to_public_name() -> None:
    _, blocks = render(payload(display_name="", project_url=None))
    assert blocks[1]["text"]["text"].startswith("*acme-tools 1.0*")
    # A stored payload without a display name reads back with the public name.
    stored = payload(project_url=None).to_payload()
    stored["display_name"] = None
    _, blocks = render(AlertMessage.from_payload(stored))
    assert blocks[1]["text"]["text"].startswith("*acme-tools 1.0*")


def test_hostile_lengths_stay_within_block_kit_limits() -> None:
    """Over-long author or summary must not make Slack refuse the alert (it would never go)."""
    _, blocks = render(
        payload(
            author="&" * 5000,
            owners=[f"owner{i}" for i in range(2000)],
            organization="o" * 3000,
            summary="s" * 10_000,
            version="1.0." + "9" * 4000,
        )
    )
    check_limits(blocks)
    assert len(json.dumps(blocks)) < 50_000
    author = next(t for t in mrkdwn_texts(blocks) if t.startswith("*Author*\n"))
    assert author.startswith("*Author*\n&amp;&amp;")
    assert author.endswith("…")  # clipped visibly, not silently


def test_a_role_change_says_what_changed_and_how_the_project_relates() -> None:
    change = "add Owner mallory"
    _, blocks = render(
        payload(kind=AlertKind.OURS, change=change, grants=[RoleGrant("Owner", "mallory")])
    )
    assert blocks[1]["text"]["text"].startswith(
        "*<http://127.0.0.1:9/project/acme-tools/1.0/|Acme_Tools 1.0>* gained role holders "
        "who are not among the catalog's owners:\n"
    )
    assert blocks[0]["text"]["text"] == "Role change on our own public project"
    assert "*Change*\nadd Owner mallory" in [f["text"] for f in blocks[2]["fields"]]
    assert " collides with:" in render(payload())[1][1]["text"]["text"]
    assert (
        " collides with:"
        in render(payload(kind=AlertKind.OWNER, change=change))[1][1]["text"]["text"]
    )
