"""The ``retab-async`` command: ``main`` parses and runs, ``output`` prints."""
