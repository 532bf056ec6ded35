"""Sales: ringing up, voiding and refunding, and the day's summary."""
