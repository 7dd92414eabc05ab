"""The report streams' schemas (tap_klaviyo/schemas/reports, written by tap-klaviyo/scripts/make_report_schemas.py):
every statistic of the official SDK's enum is a typed column, keys merge cleanly, and real rows validate."""

from __future__ import annotations

import json
import runpy
import typing as t
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, FormatChecker
from openapi_client.models.campaign_values_request_dto_resource_object_attributes import (
    CampaignValuesRequestDTOResourceObjectAttributes,
)
from openapi_client.models.flow_series_request_dto_resource_object_attributes import (
    FlowSeriesRequestDTOResourceObjectAttributes,
)
from openapi_client.models.flow_values_request_dto_resource_object_attributes import (
    FlowValuesRequestDTOResourceObjectAttributes,
)
from openapi_client.models.segment_series_request_dto_resource_object_attributes import (
    SegmentSeriesRequestDTOResourceObjectAttributes,
)
from tap_runs import records, run_tap, tap_sandbox

import tap_klaviyo
from tap_klaviyo.reports import REPORT_SCHEMAS, REPORT_STREAM_TYPES

GENERATOR = Path(tap_klaviyo.__file__).parents[1] / "scripts" / "make_report_schemas.py"
# stream -> the SDK model whose `statistics` enum lists what Klaviyo offers for its report
SDK_MODELS: dict[str, t.Any] = {
    "campaign_values_reports": CampaignValuesRequestDTOResourceObjectAttributes,
    "flow_values_reports": FlowValuesRequestDTOResourceObjectAttributes,
    "flow_series_reports": FlowSeriesRequestDTOResourceObjectAttributes,
    "segment_series_reports": SegmentSeriesRequestDTOResourceObjectAttributes,
}
STREAMS = {stream.name: stream for stream in REPORT_STREAM_TYPES}


def sdk_statistics(model: t.Any) -> set[str]:
    """The SDK's enum of statistics, read from its validator: a value outside it is rejected, one inside accepted."""
    try:
        model.statistics_validate_enum(["not-a-statistic"])
    except ValueError as error:
        return set(json.loads(str(error).split("one of ", 1)[1].replace("(", "[").replace(")", "]").replace("'", '"')))
    raise AssertionError("the SDK accepted an unknown statistic")


def load(stream: str) -> dict[str, t.Any]:
    return json.loads((REPORT_SCHEMAS / f"{stream}.json").read_text())


def test_every_report_stream_has_its_schema_file_and_they_are_the_generator_output():
    assert sorted(p.stem for p in REPORT_SCHEMAS.glob("*.json")) == sorted(STREAMS)
    generator = runpy.run_path(str(GENERATOR), run_name="make_report_schemas")
    for name, stream in STREAMS.items():
        assert (REPORT_SCHEMAS / f"{name}.json").read_text() == generator["render"](stream.schema_definition()), (
            f"{name}.json differs: run tap-klaviyo/scripts/make_report_schemas.py"
        )


@pytest.mark.parametrize("stream", list(STREAMS))
def test_every_statistic_of_the_sdk_is_a_typed_nullable_column(stream: str):
    schema = load(stream)
    offered = sdk_statistics(SDK_MODELS[stream])
    assert len(offered) >= 4
    assert set(STREAMS[stream].statistics) == offered
    for name in offered:
        kind = schema["properties"][name]["type"]
        assert kind in (["integer", "null"], ["number", "null"]), name
        if name.endswith(("_rate", "_value", "_roi", "_spend")) or name in ("average_order_value",):
            assert kind == ["number", "null"], name
        if name in ("delivered", "recipients", "opens", "clicks", "conversions", "total_members", "members_added"):
            assert kind == ["integer", "null"], name


@pytest.mark.parametrize("stream", list(STREAMS))
def test_keys_start_with_account_id_and_are_required_non_null(stream: str):
    schema, cls = load(stream), STREAMS[stream]
    keys = list(cls.primary_keys)
    assert keys[0] == "account_id" and keys[1:] == [*cls.groupings, *(["day"] if cls.interval else [])]
    assert schema["required"] == ["account_id", "account_name", *keys[1:]]
    for key in keys:
        assert "null" not in schema["properties"][key]["type"], key
    if cls.interval:
        assert schema["properties"]["day"] == {"type": "string", "format": "date"}
        assert cls.replication_key == "day"
    else:
        assert schema["properties"]["timeframe_start"]["format"] == "date-time"
    assert ("conversion_metric_id" in schema["properties"]) == (stream != "segment_series_reports")


def test_real_rows_validate_and_produce_every_column(tmp_path):
    sandbox, config = tap_sandbox(
        tmp_path, "--accounts", "1", "--events", "1500", "--profiles", "150", "--rate-limit-scale", "0",
        rate_limit_scale=0,
    )  # fmt: skip
    try:
        code, messages, stderr = run_tap(config, tmp_path, None, streams=list(STREAMS))
    finally:
        sandbox.stop()
    assert code == 0, stderr[-3000:]
    rows = records(messages)
    for stream in STREAMS:
        schema = load(stream)
        assert rows[stream], stream
        validator = Draft7Validator({**schema, "additionalProperties": False}, format_checker=FormatChecker())
        errors = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for r in rows[stream]
            for e in validator.iter_errors(r)
        ]
        assert not errors, (stream, errors[:5])
        produced = {key for row in rows[stream] for key in row}
        assert produced == set(schema["properties"]), stream
