"""Shared foundations: errors, file and image I/O, resource limits.

Nothing here imports the rest of synthlang.
"""
