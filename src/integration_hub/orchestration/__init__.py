"""Temporal: handler workflows for internal events, their activities, worker and dev server."""
