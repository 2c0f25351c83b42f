"""Physical units shared by the scene language, training, fitting and slides."""

DEFAULT_PIXEL_SIZE_UM = 0.5
"""Pixel size (micrometres) where none is given: the paper's 20x."""
