"""The pipeline: events from every source -> matches, history, findings and the outbox."""

from watcher.pipeline.observation import Observation
from watcher.pipeline.processor import Pipeline
from watcher.pipeline.recorder import Recorder

__all__ = ["Observation", "Pipeline", "Recorder"]
