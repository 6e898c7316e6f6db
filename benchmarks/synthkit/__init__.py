"""The synthetic ground-truth generator, one module per concept (faces, events, displacement fields,
rendering, planning, suites, the MediaPipe probe); ``benchmarks.synth`` re-exports the public names and is the CLI."""
