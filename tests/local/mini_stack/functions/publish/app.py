"""Mini pipeline step: put the outcome on the results bus."""

import json
import os

import boto3


def handler(event, context):
    state = event["state"]
    detail = {
        "run_id": (state.get("job") or {}).get("run_id"),
        "execution_arn": event["execution_arn"],
        "job": state.get("job"),
        "failure": state.get("failure"),
    }
    boto3.client("events").put_events(
        Entries=[
            {
                "Source": "forgeflow",
                "DetailType": event["outcome"],
                "Detail": json.dumps(detail),
                "EventBusName": os.environ["RESULTS_BUS_NAME"],
            }
        ]
    )
    return {}
