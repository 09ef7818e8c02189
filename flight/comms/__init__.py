"""Comms: every packet format (PUS telecommands and telemetry) and the flight recording format.

Shared byte for byte with `ground`, which imports it. Imports nothing of the executive.
"""
