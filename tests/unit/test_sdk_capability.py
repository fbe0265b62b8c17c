"""Issue 17, finding 13: the runtime's bundled botocore varies by region and date; a function whose
botocore cannot send If-None-Match fails at init with the fix, instead of failing each write."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import botocore
import pytest

from pik.aws import s3


def _model(members: dict) -> SimpleNamespace:
    shape = SimpleNamespace(members=members)
    return SimpleNamespace(operation_model=lambda name: SimpleNamespace(input_shape=shape))


def test_this_botocore_sends_if_none_match():
    s3.require_conditional_writes()  # the real model of the installed botocore


def test_an_old_botocore_fails_at_init_naming_version_and_fix():
    with pytest.raises(s3.SdkTooOldError) as caught:
        s3.require_conditional_writes(_model({"Bucket": None, "Key": None, "Body": None}))
    message = str(caught.value)
    assert f"botocore {botocore.__version__} cannot send If-None-Match" in message
    assert "boto3>=1.35.16 to lambdas/requirements.txt" in message


@pytest.mark.parametrize("handler", ["ingest", "replay", "processor", "tap"])
def test_every_function_that_writes_raw_bytes_checks_at_import(handler):
    code = f"import sys, pik.handlers.{handler}; print('pik.aws.s3' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout == "True\n"
