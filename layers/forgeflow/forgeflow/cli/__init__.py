"""The `forgeflow` command line."""
