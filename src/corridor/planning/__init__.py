"""Planning: the timetable router, door-to-door prices and ISO 14083 emissions of route options."""
