"""The engine: what turns one sensor frame into one trustworthy output.

Weight images (live, CRC-checked memory onnxruntime computes from), replicas (one session each),
the voter, the TMR engine, the watchdog and the scrubber. Imports storage (a verified model is what
replicas are built from), never the executive or comms.
"""
