"""SageMaker CreateTrainingJob requests (smoke, full, evaluation), images and job names."""
