"""Stdlib-only domain shared by the Lambdas, the local stack and ``pik_nb``. No boto3, no pandas."""
