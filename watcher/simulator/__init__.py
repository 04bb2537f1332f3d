"""A simulated package index: a real HTTP server speaking the index's read interfaces.

It serves the RSS feeds, the JSON API, the simple API and the XML-RPC journal in
the formats the watcher reads, from in-memory state a caller changes while the
watcher polls, with failure knobs for errors, slowness and hostile bodies. The
test suite runs the watcher against it, and so does ``watcher demo``.
"""

from watcher.simulator.responses import SIMPLE_HTML, SIMPLE_JSON
from watcher.simulator.server import RecordedRequest, SimulatedIndex

__all__ = ["SIMPLE_HTML", "SIMPLE_JSON", "RecordedRequest", "SimulatedIndex"]
