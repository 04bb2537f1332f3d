"""The tests' fake package index: the simulator shipped in ``watcher.simulator``.

One simulator serves both the tests and ``watcher demo``; this module keeps the
tests' name for it and adds the hostile payloads, which are attacks on the client
rather than anything an index serves.
"""

from __future__ import annotations

from watcher.simulator import RecordedRequest, SimulatedIndex

__all__ = [
    "FakeIndex",
    "RecordedRequest",
    "billion_laughs_feed",
    "external_entity_feed",
    "truncated_feed",
]

FakeIndex = SimulatedIndex


def billion_laughs_feed() -> bytes:
    """An RSS document whose title expands to 10**9 "lol"s (entity-expansion bomb)."""
    entities = ['  <!ENTITY lol0 "lol">']
    for level in range(1, 10):
        ref = f"&lol{level - 1};"
        entities.append(f'  <!ENTITY lol{level} "{ref * 10}">')
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!DOCTYPE rss [",
        *entities,
        "]>",
        '<rss version="2.0">',
        "  <channel>",
        "    <title>PyPI recent updates</title>",
        "    <item>",
        "      <title>&lol9; 1.0</title>",
        "      <description>&lol9;</description>",
        "    </item>",
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def external_entity_feed() -> bytes:
    """An RSS document pulling a local file in through an external (SYSTEM) entity."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<rss version="2.0">',
        "  <channel>",
        "    <title>PyPI recent updates</title>",
        "    <item>",
        "      <title>&xxe; 1.0</title>",
        "      <description>&xxe;</description>",
        "    </item>",
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def truncated_feed(fake: SimulatedIndex) -> bytes:
    """The index's current updates feed cut off in the middle (never well-formed)."""
    body = fake.render_updates_feed()
    return body[: max(1, len(body) // 2)]
