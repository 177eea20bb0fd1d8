"""The SageMaker SDK comparison is opt-in (`make test-sdk`): collected only with FORGEFLOW_SDK_TESTS=1, in
.venv-sdk where the `sdk` extra is installed; the default run (`make test`) never imports the SDK."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("FORGEFLOW_SDK_TESTS") == "1" else ["test_*.py"]
