"""Rendering an alert message into a Slack message: escaping, layout and Block Kit limits."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage, RoleGrant
from watcher.alerts.render import remediation, render

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


def mrkdwn_objects(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    objects = []
    for block in blocks:
        if block.get("text", {}).get("type") == "mrkdwn":
            objects.append(block["text"])
        objects.extend(f for f in block.get("fields", []) if f["type"] == "mrkdwn")
    return objects


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [o["text"] for o in mrkdwn_objects(blocks)]


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
        "text": {
            "type": "plain_text",
            "text": "HIGH · Possible squat of an internal package: Acme_Tools",
        },
    }
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "context"]
    assert "Pin hashes" in str(blocks[-1])  # what to do, for a high-risk squat
    section = blocks[1]["text"]["text"]
    # The index's words in code spans (shown as they are), then our own link to the release.
    assert section.startswith(
        "`Acme_Tools` `1.0` (<http://127.0.0.1:9/project/acme-tools/1.0/|on the index>) "
        "collides with:\n"
    )
    assert "`acme`" in section
    assert "*prefix*" in section
    assert "under the internal namespace 'acme'-*" in section
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert fields == [
        "*Severity*\nhigh",
        "*Seen via*\nfeed:updates",
        "*Author*\n`Mallory`",
        "*Owners*\n`mallory`, `eve`",
        "*First release*\n2024-05-01T00:00:00+00:00",
    ]  # empty organization left out
    # No mrkdwn text auto-links a URL or parses a bare mention.
    assert all(t["verbatim"] is True for t in mrkdwn_objects(blocks))
    assert blocks[3]["elements"] == [{"type": "plain_text", "text": "Tools", "emoji": False}]
    check_limits(blocks)


def test_control_characters_are_escaped() -> None:
    hostile = "<!channel> & <@U0BOSS|boss> <http://evil.invalid|click>"
    _, blocks = render(
        payload(
            display_name="acme<x>",
            version="1.0<&>",
            # As the index client builds it, from the raw version.
            project_url="http://127.0.0.1:9/project/acme-tools/1.0<&>/",
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
    assert joined.startswith("`acme&lt;x&gt;` `1.0&lt;&amp;&gt;` ")
    # The only unescaped '<' and '>' are the link we built ourselves; the version in the
    # stored URL is not plain, so it links to the project rather than carry it.
    link = "(<http://127.0.0.1:9/project/acme-tools/|on the index>)"
    assert link in texts[0]
    for text in texts:
        text = text.replace(link, "")
        assert "<" not in text, text
        assert ">" not in text, text
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", text), text


def test_ampersand_is_escaped_once() -> None:
    _, blocks = render(payload(author="&lt; already"))
    assert "*Author*\n`&amp;lt; already`" in mrkdwn_texts(blocks)


def test_without_version_or_url() -> None:
    _, blocks = render(payload(version=None, project_url=None, summary=None, author=None))
    section = blocks[1]["text"]["text"]
    assert section.startswith("`Acme_Tools` (no release) collides with:")
    assert "<" not in section
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]


def test_display_name_falls_back_to_public_name() -> None:
    _, blocks = render(payload(display_name="", project_url=None))
    assert blocks[1]["text"]["text"].startswith("`acme-tools` `1.0` collides")
    # A stored payload without a display name reads back with the public name.
    stored = payload(project_url=None).to_payload()
    stored["display_name"] = None
    _, blocks = render(AlertMessage.from_payload(stored))
    assert blocks[1]["text"]["text"].startswith("`acme-tools` `1.0` collides")


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
    assert author.startswith("*Author*\n`&amp;&amp;")
    assert author.endswith("…`")  # clipped visibly, not silently


def test_a_role_change_says_what_changed_and_how_the_project_relates() -> None:
    change = "add Owner mallory"
    _, blocks = render(
        payload(kind=AlertKind.OURS, change=change, grants=[RoleGrant("Owner", "mallory")])
    )
    assert blocks[1]["text"]["text"].startswith(
        "`Acme_Tools` `1.0` (<http://127.0.0.1:9/project/acme-tools/1.0/|on the index>) "
        "gained role holders who are not among the catalog's owners:\n"
    )
    assert blocks[0]["text"]["text"] == "HIGH · Role change on our own public project: Acme_Tools"
    assert "*Change*\n`add Owner mallory`" in [f["text"] for f in blocks[2]["fields"]]
    assert " collides with:" in render(payload())[1][1]["text"]["text"]
    assert (
        " collides with:"
        in render(payload(kind=AlertKind.OWNER, change=change))[1][1]["text"]["text"]
    )


# -- hostile text from the index: nothing it says may act in the channel ------------------

BASE = "http://127.0.0.1:9"
# A link whose label pretends to be the squatted project's page.
DISGUISED = "1><http://evil.example/|https://index.invalid/project/acme-tools/><x"
CONTROL = re.compile(r"<([^<>]*)>")


def controls(text: str, blocks: list[dict[str, Any]]) -> list[str]:
    """What Slack would act on (links, mentions, pings) in every mrkdwn text and ``text``."""
    return [c for t in [text, *mrkdwn_texts(blocks)] for c in CONTROL.findall(t)]


@pytest.mark.parametrize(
    "version", [DISGUISED, "<!channel>", "1.0|x", "1.0>", "1.0/../../evil", "1.0 x", "1.0%3E"]
)
def test_a_version_never_reaches_a_link_target(version: str) -> None:
    # The project URL as the index client builds it, from the raw version.
    message = payload(version=version, project_url=f"{BASE}/project/acme-tools/{version}/")
    text, blocks = render(message)
    # One link: to the project page (the version is not plain), with our own label.
    assert controls(text, blocks) == [f"{BASE}/project/acme-tools/|on the index"]
    assert "<!channel>" not in text
    assert "&lt;" in text or "<" not in version


def test_a_plain_version_links_to_its_release() -> None:
    version = "2!1.0.post1+local_7"
    stored = f"{BASE}/project/acme-tools/{version}/"
    text, blocks = render(payload(version=version, project_url=stored))
    assert controls(text, blocks) == [f"{stored}|on the index"]


def test_a_release_url_as_the_index_client_encodes_it_links_to_the_release() -> None:
    version = "2!1.0.post1+local_7"  # '!' and '+' are percent-encoded in the stored URL
    stored = f"{BASE}/project/acme-tools/{quote(version, safe='')}/"
    text, blocks = render(payload(version=version, project_url=stored))
    assert controls(text, blocks) == [f"{BASE}/project/acme-tools/{version}/|on the index"]


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/",
        "javascript:alert(1)//project/acme-tools/1.0/",
        "http://user:pw@127.0.0.1:9/project/acme-tools/1.0/",
        "http://127.0.0.1:9/x?y=/project/acme-tools/1.0/",
        "http://127.0.0.1:9/a|b/project/acme-tools/1.0/",
        "http://127.0.0.1:9/project/other/1.0/",
    ],
)
def test_a_stored_url_we_did_not_build_is_not_linked(url: str) -> None:
    text, blocks = render(payload(project_url=url))
    assert controls(text, blocks) == []


def test_mentions_in_the_notification_text_are_escaped() -> None:
    text, _ = render(payload(display_name="<!here>", version="<!channel>", project_url=None))
    assert "<" not in text
    assert "&lt;!here&gt;" in text
    assert "&lt;!channel&gt;" in text


def test_formatting_in_index_text_stays_inside_code_spans() -> None:
    _, blocks = render(
        payload(
            display_name="_acme_",
            version="*1*",
            author="~eve~ `rm -rf` \n*new line*",
            owners=["a`b"],
            change="~x~",
            project_url=None,
        )
    )
    section = blocks[1]["text"]["text"]
    assert section.startswith("`_acme_` `*1*` collides with:")
    fields = {
        f["text"].partition("\n")[0]: f["text"].partition("\n")[2] for f in blocks[2]["fields"]
    }
    # A backtick cannot end the span early, a newline cannot start a line of its own.
    assert fields["*Author*"] == "`~eve~ 'rm -rf' \\n*new line*`"
    assert fields["*Owners*"] == "`a'b`"
    assert fields["*Change*"] == "`~x~`"


@pytest.mark.parametrize(
    ("severity", "says"),
    [
        ("critical", "--require-hashes"),
        ("high", "Pin hashes"),
        ("medium", "A look-alike"),
        ("low", "Near our names"),
    ],
)
def test_each_risk_says_what_to_do(severity: str, says: str) -> None:
    message = payload(severity=severity)
    line = remediation(message)
    assert line is not None
    assert says in line
    assert render(message)[1][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": line, "verbatim": True}],
    }


def test_the_header_keeps_the_risk_when_a_squatter_chooses_a_long_name() -> None:
    long_name = "Acme_Tools-" + "x" * 400 + "\n<!channel>"
    _, blocks = render(payload(display_name=long_name))
    text = blocks[0]["text"]["text"]
    assert blocks[0]["text"]["type"] == "plain_text"  # shown as it is: nothing acts
    assert text.startswith("HIGH · Possible squat of an internal package: Acme_Tools-xxx")
    assert len(text) <= HEADER_MAX
    assert "\n" not in text
