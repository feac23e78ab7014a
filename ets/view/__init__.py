"""Looking at a run: playback, the report, the live view, and the headless canvas they draw on."""
