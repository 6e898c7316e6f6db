"""Layer 1, stages: one module per step of a frame's way, each knowing only the data it takes and gives.

source (Frame) -> landmarks (FaceObservation) -> features (FaceFeatures) -> segmenter (Segment)
-> classifier (emotion scores).  Imports only :mod:`detector.core`.
"""
