"""Where the tests' AWS lives: moto's region (in-process ``mock_aws`` and the local stack alike)."""

REGION = "us-east-1"
