"""The local server's side of extractions and parses: validation and deterministic stand-ins."""
