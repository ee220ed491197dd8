"""Operator notices: cancelled or delayed sailings, port closures, border queues, track works."""
