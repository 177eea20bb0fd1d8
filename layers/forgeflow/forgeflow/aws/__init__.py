"""Adapters to AWS services: the only place that calls boto3."""
