"""Playback of a run directory: the network scene, the time-series panels, interactive and saved."""
