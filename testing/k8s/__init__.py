"""The Kubernetes test library: client, ordered server-side apply, watch-based waits,
diagnostics, port-forward and per-test namespaces.

Every module talks to the API server through the official ``kubernetes`` client;
nothing here shells out to kubectl.
"""
