"""Layer 0, core: the vocabulary every layer shares (FACS tables, the Event record, bundled resources, options).

Imports nothing else from ``detector``; no numba, no MediaPipe.
"""
