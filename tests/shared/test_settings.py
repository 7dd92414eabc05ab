"""tap_support.read_settings: a plugin's settings as one typed object, each default read from its config_jsonschema
(the one place it is written), and the plugins' own schemas and settings types agreeing."""

from __future__ import annotations

import msgspec
import pytest
from singer_sdk import typing as th

from tap_csv.settings import CONFIG_SCHEMA as CSV_SCHEMA
from tap_csv.settings import CsvSettings
from tap_klaviyo.errors import SettingError
from tap_klaviyo.settings import CONFIG_SCHEMA, TapSettings, tap_settings
from tap_support import read_settings

SCHEMA = th.PropertiesList(
    th.Property("scale", th.NumberType, default=1.0),
    th.Property("workers", th.IntegerType, default=24),
    th.Property("fields", th.ArrayType(th.StringType), default=["subscriptions"]),
    th.Property("name", th.StringType),
).to_dict()


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    scale: float
    workers: int
    fields: tuple[str, ...]
    name: str | None = None


def test_a_value_not_given_is_the_schemas_default():
    assert read_settings({}, SCHEMA, Settings) == Settings(scale=1.0, workers=24, fields=("subscriptions",))
    assert read_settings({"workers": None, "name": "x"}, SCHEMA, Settings).workers == 24  # None: not given


def test_numbers_given_as_strings_are_read_as_numbers():
    assert read_settings({"scale": "0.5", "workers": "8"}, SCHEMA, Settings).scale == 0.5  # as Meltano passes them


def test_a_wrong_type_names_the_setting():
    with pytest.raises(SettingError, match=r"^setting 'workers': Expected `int`"):
        read_settings({"workers": "many"}, SCHEMA, Settings, SettingError)


@pytest.mark.parametrize(("schema", "settings_type"), [(CONFIG_SCHEMA, TapSettings), (CSV_SCHEMA, CsvSettings)])
def test_a_plugins_settings_type_has_a_default_of_its_own_only_where_its_schema_has_none(schema, settings_type):
    properties = schema["properties"]
    for field in msgspec.structs.fields(settings_type):
        assert field.name in properties, field.name
        has_schema_default = "default" in properties[field.name]
        assert has_schema_default == (field.default is msgspec.NODEFAULT), field.name
        if not has_schema_default:
            assert field.default is None, field.name  # unset, never a second default


def test_tap_klaviyos_settings_come_from_its_schema():
    settings = tap_settings({"accounts_json": "[]", "rate_limit_scale": "0.5"})
    assert settings.window_concurrency == CONFIG_SCHEMA["properties"]["window_concurrency"]["default"] == 24
    assert settings.events_lookback_days == 7 and settings.rate_limit_scale == 0.5
    assert settings.api_url == "https://a.klaviyo.com" and settings.batch_loader_wait_seconds == 300
