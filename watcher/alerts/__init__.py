"""Alert delivery: the outbox dispatcher, Slack rendering and sending."""

from watcher.alerts.dispatcher import Dispatcher, DispatchReport
from watcher.alerts.slack import AlertSender, SlackSender

__all__ = ["AlertSender", "DispatchReport", "Dispatcher", "SlackSender"]
