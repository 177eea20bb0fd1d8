"""Run requests and results events: the versioned contracts of the serverless pipeline."""
