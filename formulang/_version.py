"""formulang's version, in a module of its own so that any module can read it without
importing the package's ``__init__`` (which imports nearly everything).

>>> from formulang import __version__
>>> __version__ == VERSION
True
"""

__version__ = VERSION = "0.1.0"  # pyproject.toml's [project] version says the same
