"""Bookings: quotes from the planner, capacity-safe reservations and the booking lifecycle."""
