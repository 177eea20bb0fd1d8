"""Evaluation results: parse Nova eval job outputs, compare trained against base per suite, summarise."""
