"""The embedded local runtime: AWS emulated in-process by moto. Only the CLI and tests import it."""
