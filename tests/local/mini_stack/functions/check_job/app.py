"""Mini pipeline step: the training job's status."""

import boto3


def handler(event, context):
    answer = boto3.client("sagemaker").describe_training_job(TrainingJobName=event["job_name"])
    return {"status": answer["TrainingJobStatus"]}
