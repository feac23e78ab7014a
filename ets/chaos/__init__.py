"""Fault injection for local clusters: what to do to which process when (``spec``), and doing it (``driver``)."""
