"""Checking a run: ``ets verify`` (ledgers, tables and every claim), clearing blocks again, and
the gap to the perfect-foresight bound."""
