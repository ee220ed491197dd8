"""Track and trace: trip status, timelines, timetable-aware ETA, alerts, DCSA API, webhooks.

`corridor.tracking.hooks` registers the incremental status update, ETA, alerts and the webhook
outbox on the ingest path (`AFTER_APPEND`); the API and CLI modules import it.
"""
