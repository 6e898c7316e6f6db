"""Benchmarks and synthetic ground truth for microexpr (``benchmarks.synth``); not part of the installed package."""
