"""Thin Lambda entry points (aws-lambda-powertools)."""
