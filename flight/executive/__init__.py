"""The executive: the scheduler and the components it calls each minor frame.

Configuration, events, the telemetry digest, boot, and the cyclic executive itself. Imports the
engine, storage and comms; nothing below imports it.
"""
