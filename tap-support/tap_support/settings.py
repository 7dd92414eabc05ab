"""A plugin's settings as one typed object, with their defaults written once: in its `config_jsonschema`.

singer-sdk fills a setting's default into the config only when it validates the config, and its
`config_jsonschema` is what `--about`, Meltano and users read; so a plugin reads every setting through
`read_settings`, which takes the value given, else the schema's default, and never a default of its own.
A field of the settings type without a schema default is optional (None when not given).
"""

from __future__ import annotations

import typing as t

import msgspec

S = t.TypeVar("S", bound=msgspec.Struct)


def schema_defaults(schema: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The defaults a JSON schema object declares, by property name."""
    return {name: spec["default"] for name, spec in schema.get("properties", {}).items() if "default" in spec}


def read_settings(
    config: t.Mapping[str, t.Any],
    schema: t.Mapping[str, t.Any],
    settings_type: type[S],
    error: type[Exception] = ValueError,
) -> S:
    """`config` as `settings_type` (a msgspec Struct whose fields are settings): each value given (None counts as not
    given), else the schema's default. A number given as a string (Meltano passes some settings so) is read as a
    number. A value of the wrong type raises `error` naming the setting."""
    names = {field.name for field in msgspec.structs.fields(settings_type)}
    values = {name: value for name, value in schema_defaults(schema).items() if name in names}
    values.update({name: value for name, value in config.items() if name in names and value is not None})
    try:
        return msgspec.convert(values, settings_type, strict=False)
    except msgspec.ValidationError as invalid:
        # msgspec says "Expected `int`, got `str` - at `$.window_concurrency`": said with the setting's name first.
        what, _, where = str(invalid).partition(" - at `$.")
        raise error(f"setting '{where.rstrip('`')}': {what}" if where else what) from None
