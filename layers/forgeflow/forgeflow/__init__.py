"""ForgeFlow: fine-tune Amazon Nova models with data mixing, on AWS serverless."""

__version__ = "0.1.0"
