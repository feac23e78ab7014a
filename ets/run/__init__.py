"""Running a community: a run directory set up, the in-process engine, the local cluster of
processes and its supervisor, resuming, and the baseline."""
