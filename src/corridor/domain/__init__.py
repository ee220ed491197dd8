"""The framework-free core: network, timetable, equipment, events, parties, bookings, trips.

Nothing in this package imports FastAPI, SQLAlchemy or any other edge; capabilities and
edges depend on it, never the other way round.
"""
