"""ForgeFlow's tools for people: the `forgeflow` CLI and the embedded local runtime.

Installed with the package (`pip install -e .[dev]`) but never shipped in the Lambda layer: the layer's
`ContentUri` (`layers/forgeflow/`) holds only the `forgeflow` package that Lambdas run.
"""
