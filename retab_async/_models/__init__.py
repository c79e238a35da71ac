"""The models: frozen, forward-compatible msgspec Structs and their decoders.

``common``: what every primitive shares, and classifications; one module per
other primitive; ``schemas``: JSON schemas in and typed outputs out;
``ndjson``: reading a stream of JSON lines.
"""
