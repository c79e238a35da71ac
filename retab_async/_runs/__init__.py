"""The run machinery, shared by every primitive.

``primitive``: what the machinery knows of a primitive (paths, record type);
``handle``: ``RunHandle``; ``poller`` and ``polling``: the one poller per client
and its policy; ``tokens``: resuming a run elsewhere; ``batch``, ``checkpoint``
and ``fingerprint``: many runs at once, with a journal that belongs to its batch.
"""
