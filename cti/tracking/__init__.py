"""The tracker's parts: its state records, the shared core, and one mixin per family of AMI events.

`cti.tracker.Tracker` assembles them; import it from there.
"""
