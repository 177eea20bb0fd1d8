"""Mini pipeline step: record the run and start a SageMaker training job for the dropped dataset."""

import hashlib
import os

import boto3
from botocore.exceptions import ClientError


class JobThrottled(Exception):  # the class name is the ASL error name
    """CreateTrainingJob was throttled: the state machine retries it."""


RECIPE = b"""run:
  name: mini
  model_type: amazon.nova-lite-v1:0:300k
  model_name_or_path: nova-lite/prod
  replicas: 4
training_config:
  max_steps: 5
"""


def handler(event, context):
    source = event["event"]
    if source["source"] == "aws.s3":
        bucket, key = source["detail"]["bucket"]["name"], source["detail"]["object"]["key"]
    else:
        bucket, key = os.environ["DATA_BUCKET"], source["detail"]["dataset_key"]
    run_id = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:12]
    print(f"starting run {run_id} in {context.function_name}")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=f"runs/{run_id}/recipe/recipe.yaml", Body=RECIPE)
    boto3.client("dynamodb").put_item(
        TableName=os.environ["LEDGER_TABLE"],
        Item={"run_id": {"S": run_id}, "execution_arn": {"S": event["execution"]}},
    )
    name = f"ff-{run_id}-smoke-1"
    client = boto3.client("sagemaker", config=boto3.session.Config(retries={"total_max_attempts": 1}))
    try:
        client.create_training_job(
            TrainingJobName=name,
            RoleArn=os.environ["SAGEMAKER_ROLE_ARN"],
            AlgorithmSpecification={"TrainingImage": "example/image:latest", "TrainingInputMode": "File"},
            HyperParameters={"sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml"},
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "Converse", "S3Uri": f"s3://{bucket}/{key}"}
                    },
                },
                {
                    "ChannelName": "recipe",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{bucket}/runs/{run_id}/recipe/",
                        }
                    },
                },
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/runs/{run_id}/jobs/"},
            ResourceConfig={"InstanceType": "ml.p5.48xlarge", "InstanceCount": 4, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ThrottlingException":
            raise JobThrottled(str(error)) from error
        raise
    return {"job_name": name, "run_id": run_id, "poll_seconds": int(os.environ["POLL_SECONDS"])}
