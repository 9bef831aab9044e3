"""The base every other floor stands on: settings, the database, the error base class
and the registry `mailyard/wiring.py` fills."""
