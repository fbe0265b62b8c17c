"""Template parameters decide conditions locally as CloudFormation does."""

from __future__ import annotations

import pytest

from pik_local import conditions, template


def test_taps_exist_only_when_their_parameter_is_set():
    doc = conditions.resolve(template.load())
    assert not {"SqsTapFunction", "KinesisTapFunction", "EventBridgeTapRule", "TapIngestPolicy"} & set(doc["Resources"])
    assert "ProcessorFunction" in doc["Resources"]
    doc = conditions.resolve(
        template.load(), {"SqsTapQueueArn": "arn:aws:sqs:us-east-1:123456789012:q", "EnableProcessor": "false"}
    )
    assert {"SqsTapFunction", "TapIngestPolicy"} <= set(doc["Resources"])
    assert not {"KinesisTapFunction", "ProcessorFunction"} & set(doc["Resources"])
    assert "ProcessorFunctionName" not in doc["Outputs"]
    assert doc["ParameterValues"]["SqsTapQueueArn"] == "arn:aws:sqs:us-east-1:123456789012:q"


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"NoSuchThing": "1"}, "unknown template parameter: NoSuchThing"),
        ({"Nope": "1", "NoSuchThing": "1"}, "unknown template parameters: NoSuchThing, Nope"),
        ({"EnableProcessor": "maybe"}, "EnableProcessor='maybe' is not one of true, false"),
    ],
)
def test_bad_parameters_are_named(overrides, message):
    with pytest.raises(conditions.ParameterError) as err:
        conditions.resolve(template.load(), overrides)
    assert str(err.value) == message


def test_a_bad_tap_mapping_stops_the_local_stack_before_anything_starts(tmp_path):
    from pik_local.stack import LocalStack, StackError

    with pytest.raises(StackError) as err:
        LocalStack(
            info_file=tmp_path / "local.json",
            parameters={
                "SqsTapQueueArn": "arn:aws:sqs:us-east-1:123456789012:orders",
                "SqsTapMapping": '{"entity_id": "$.customer..id"}',
            },
        )
    assert str(err.value) == (
        "SqsTapMapping: entity_id: path '$.customer..id' is not valid: cannot read the path after '$.customer'"
    )
    assert not (tmp_path / "local.json").exists()


@pytest.mark.parametrize(
    "param,message",
    [
        ("NoSuchThing=1", "Error: unknown template parameter: NoSuchThing"),
        ("EnableProcessor=maybe", "Error: EnableProcessor='maybe' is not one of true, false"),
        ("SqsTapQueueArn", "Invalid value for --param: 'SqsTapQueueArn' is not NAME=VALUE"),
    ],
)
def test_pik_local_up_refuses_a_bad_param_cleanly(tmp_path, param, message):
    from click.testing import CliRunner

    from pik_cli import cli

    result = CliRunner().invoke(cli, ["local", "up", "--info-file", str(tmp_path / "local.json"), "--param", param])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "local.json").exists()


@pytest.mark.parametrize(
    "queue,batch,window",
    [
        ("arn:aws:sqs:us-east-1:123456789012:orders.fifo", 10, None),
        ("arn:aws:sqs:us-east-1:123456789012:orders", 100, 1),
        ("arn:aws:sqs:us-east-1:123456789012:fifo-orders", 100, 1),  # "fifo" in the name, not the suffix
    ],
)
def test_a_fifo_tap_queue_is_read_in_batches_of_at_most_10_without_a_window(queue, batch, window):
    from pik.core.limits import SQS_FIFO_LAMBDA_BATCH

    doc = conditions.resolve(template.load(), {"SqsTapQueueArn": queue})
    props = doc["Resources"]["SqsTapFunction"]["Properties"]["Events"]["Captured"]["Properties"]
    assert (props["BatchSize"], props.get("MaximumBatchingWindowInSeconds")) == (batch, window)
    if queue.endswith(".fifo"):
        assert SQS_FIFO_LAMBDA_BATCH.respected_by(props["BatchSize"])
    else:  # a standard queue's batch above 10 needs a batching window (Lambda's SQS parameters page)
        assert props["MaximumBatchingWindowInSeconds"] >= 1


def test_fn_if_and_no_value_are_chosen_everywhere_locally():
    doc = conditions.resolve(template.load(), {"AlarmTopicArn": ""})
    alarm = doc["Resources"]["ReplayDeadLetterAlarm"]["Properties"]
    assert "AlarmActions" not in alarm and "OKActions" not in alarm


def test_the_local_poller_reads_a_fifo_tap_queue_10_at_a_time():
    from pik_local import poller

    doc = conditions.resolve(template.load(), {"SqsTapQueueArn": "arn:aws:sqs:us-east-1:123456789012:orders.fifo"})
    found = dict(
        poller.mappings(
            {"SqsTapFunction": template.function_specs(doc)["SqsTapFunction"]},
            {"SqsTapQueueArn": "url"},
            {"SqsTapQueueArn": "arn"},
        )
    )
    assert (found["SqsTapFunction"].batch_size, found["SqsTapFunction"].report_failures) == (10, True)
