"""Mini pipeline step: on a failed/aborted execution, stop the run's jobs still in progress."""

import os

import boto3


def handler(event, context):
    arn = event["detail"]["executionArn"]
    rows = boto3.client("dynamodb").scan(TableName=os.environ["LEDGER_TABLE"])["Items"]
    stopped = []
    sagemaker = boto3.client("sagemaker")
    for row in rows:
        if row["execution_arn"]["S"] != arn:
            continue
        jobs = sagemaker.list_training_jobs(NameContains=row["run_id"]["S"], StatusEquals="InProgress")
        for job in jobs["TrainingJobSummaries"]:
            sagemaker.stop_training_job(TrainingJobName=job["TrainingJobName"])
            stopped.append(job["TrainingJobName"])
    return {"stopped": stopped}
