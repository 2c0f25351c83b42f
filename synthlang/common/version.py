"""The version of synthlang (one place; the package and the files it writes read it)."""

__version__ = "0.1.0"
