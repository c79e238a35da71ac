"""The HTTP edge and the request pipeline.

``transport``: the aiohttp session, headers, timeouts, bounded body reading and
the one translation of library errors; ``retry``: the retry policy;
``pipeline``: transport + retry policy + client-wide pause, the one way every
layer above sends a request.
"""
