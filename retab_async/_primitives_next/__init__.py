"""Extractions and parses: models, options, request bodies, schemas and stream reading.

Plain building blocks with no I/O and no dependency on the run machinery; each
primitive's resource is built on top of them.
"""
