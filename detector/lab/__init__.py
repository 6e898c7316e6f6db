"""Layer 3, lab: scoring and training against data sets (evaluate, datasets, training) and the face
warper that renders synthetic expressions (facewarp).  Imports core, stages and run.
"""
