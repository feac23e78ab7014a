"""What a run leaves behind: result tables from the ledger, the summary's KPIs, the run's outcome
whatever happened, the best ledger of a damaged run, and reading a run directory back."""
