"""A SageMaker MLflow tracking server stand-in: the MLflow REST endpoints `log_record` calls, on localhost.

The sagemaker-mlflow plugin turns a tracking-server ARN into the server's URL, or into
SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT when that is set (sagemaker_mlflow/mlflow_sagemaker_helpers.py), and
signs every call with SigV4. Pointing it here runs the real ARN path (plugin, REST store, signing, the S3
artifact repository) with no AWS account. Each request is kept (`calls`) with its Authorization header.
Response shapes: MLflow's REST API (mlflow/protos/service.proto, the JSON form MLflow's RestStore parses).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_API = "/api/2.0/mlflow/"


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    authorization: str


@dataclass
class FakeTrackingServer:
    """Experiments and runs in memory; artifacts go where `artifact_root` says (an s3:// prefix)."""

    artifact_root: str
    calls: list[Call] = field(default_factory=list)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        route = path.removeprefix(_API)
        if route == "experiments/get-by-name":
            found = [e for e in self.experiments.values() if e["name"] == body.get("experiment_name")]
            if not found:
                return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"}
            return 200, {"experiment": found[0]}
        if route == "experiments/create":
            experiment_id = str(len(self.experiments) + 1)
            location = f"{self.artifact_root.rstrip('/')}/{experiment_id}"
            self.experiments[experiment_id] = {
                "experiment_id": experiment_id,
                "name": body["name"],
                "artifact_location": location,
                "lifecycle_stage": "active",
            }
            return 200, {"experiment_id": experiment_id}
        if route == "experiments/get":
            return 200, {"experiment": self.experiments[body["experiment_id"]]}
        if route == "runs/search":
            return 200, {"runs": list(self.runs.values())}
        if route == "runs/create":
            return 200, {"run": self._create_run(body)}
        if route == "runs/get":
            return 200, {"run": self.runs[body["run_id"]]}
        if route == "runs/log-batch":
            data = self.runs[body["run_id"]]["data"]
            data["metrics"] += body.get("metrics", [])
            data["params"] += body.get("params", [])
            return 200, {}
        if route == "runs/update":
            info = self.runs[body["run_id"]]["info"]
            info["status"] = body.get("status", info["status"])
            return 200, {"run_info": info}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"{path} is not faked"}

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        run_id = f"run{len(self.runs) + 1:04d}"
        experiment = self.experiments[body["experiment_id"]]
        run = {
            "info": {
                "run_id": run_id,
                "run_uuid": run_id,
                "experiment_id": body["experiment_id"],
                "run_name": body.get("run_name", ""),
                "status": "RUNNING",
                "start_time": body.get("start_time", 0),
                "artifact_uri": f"{experiment['artifact_location']}/{run_id}/artifacts",
                "lifecycle_stage": "active",
            },
            "data": {"metrics": [], "params": [], "tags": body.get("tags", [])},
        }
        self.runs[run_id] = run
        return run


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, body: dict[str, Any]) -> None:
        path = urlparse(self.path).path
        fake = self.server.fake
        fake.calls.append(Call(path, body, self.headers.get("Authorization", "")))
        status, document = fake.answer(path, body)
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        self._serve({key: values[0] for key, values in query.items()})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(json.loads(self.rfile.read(length) or b"{}"))

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    fake: FakeTrackingServer


def serve(fake: FakeTrackingServer) -> tuple[ThreadingHTTPServer, str]:
    """Start the fake on a free localhost port; (server, its URL). Call `server.shutdown()` when done."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
