"""Synthetic community data: occupancy-based electric load (richardsonpy) and PV output (pvlib) driven by
the test reference year that richardsonpy ships. Needs the optional ``generate`` extra."""

MISSING_EXTRA = (
    "this needs the optional packages richardsonpy and pvlib: run `uv sync --extra generate` "
    "(or `pip install energy-trading-network[generate]`)"
)
