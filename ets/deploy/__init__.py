"""Running the coordinator and the nodes as containers: the command and environment of each container,
the Compose file, the Kubernetes manifests and the run directory they start from."""
