"""The live view of a run in progress: community wallet and grid buy per step, baseline against the
market as its blocks arrive. Imported only when a run is started with ``--live``."""
