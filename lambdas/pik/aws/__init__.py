"""Adapters: the only modules that import boto3. Each turns ClientError into pik errors."""
