"""Converse datasets: record models, validation, statistics, conversion, splitting."""
