"""Layer 0, core: the vocabulary every layer shares (FACS tables, the Event record, bundled resources, options)
and the producer/consumer thread (``producer``) that the capture and the live loop are built on.

Imports nothing else from ``detector``; no numba, no MediaPipe.
"""
