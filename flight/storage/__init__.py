"""Storage: model folders on onboard storage and the A/B store that holds them.

The manifest format, one stored model read and checked against it, the slot store with its atomic
`active` record. Imports neither the engine nor the executive.
"""
