"""Crash-point testing: ``watcher run`` killed at a chosen database commit (test-only)."""
