"""Mini pipeline step: put the outcome on the results bus."""

import json
import os

import boto3


def handler(event, context):
    boto3.client("events").put_events(
        Entries=[
            {
                "Source": "forgeflow",
                "DetailType": event["outcome"],
                "Detail": json.dumps(
                    {"job": event["state"].get("job"), "failure": event["state"].get("failure")}
                ),
                "EventBusName": os.environ["RESULTS_BUS_NAME"],
            }
        ]
    )
    return {}
