"""Layer 4, app: what a user runs and reads: the command line (cli, common), the live camera view
(live, overlay), the output files (sinks), the HTML report and the expression trainer (eyetrain).
Imports every layer below.
"""
