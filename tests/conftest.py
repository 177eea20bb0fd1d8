"""Suite-wide safety and speed settings.

No test may ever reach a real AWS account: fake credentials and a fixed region are set before any test
module creates a boto3 client, and moto intercepts every call the tests make.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "ForgeFlow",
    "POWERTOOLS_SERVICE_NAME": "forgeflow",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
# `forgeflow local run` logs each run to MLflow by default; tests that track name their own store.
os.environ["FORGEFLOW_TRACKING_URI"] = "off"

# Hypothesis: no per-example deadline (CI machines are shared and slow); a bounded budget per test. On CI
# the examples are derandomized so that a red build is reproducible; developers' runs keep exploring.
settings.register_profile(
    "forgeflow",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI", "").lower() in {"1", "true", "yes"},
)
# `make mutate` (tools/mutate.py) runs each mutant's tests with `--hypothesis-profile mutate`: a property
# test then tries 10 examples, not 100, so a module's hundreds of mutants fit the machine.
settings.register_profile("mutate", parent=settings.get_profile("forgeflow"), max_examples=10)
settings.load_profile("forgeflow")
