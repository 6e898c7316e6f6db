"""Layer 2, run: the configuration and the orchestration of the stages.

``config`` reads the TOML into the stages' options; ``pipeline`` runs one stream frame by frame
(the only place that counts frames and makes Events); ``parallel`` cuts a long video into chunks
over processes and runs the many-files pool; ``cluster`` does the same on Ray; ``analyze`` is the
public entry point.  Imports only core and stages.
"""
