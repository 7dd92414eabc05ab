"""A user's error (a setting, a path, a file) ends the run with one line naming it: exit code 1, no traceback,
nothing on stdout. Each case runs the real tap process, for a sync and for a discovery (S3's: test_csv_s3.py; a
file's header: test_csv_reading.py, test_csv_bad_rows.py). A bug keeps its traceback."""

from __future__ import annotations

import pytest
from csv_runs import assert_one_line_error, file_config, run_tap

from tap_csv import tap


@pytest.mark.parametrize("args", [(), ("--discover",)], ids=["sync", "discover"])
def test_setting_and_file_errors_end_on_one_line(tmp_path, args):
    (tmp_path / "bad.json").write_text('[{"entity": "orders", "path": "orders.csv"', encoding="utf-8")
    (tmp_path / "latin.json").write_bytes('[{"entity": "städt"}]'.encode("latin-1"))
    (tmp_path / "object.json").write_text('{"entity": "orders"}', encoding="utf-8")
    (tmp_path / "a_folder.json").mkdir()
    cases = [
        (file_config("missing.csv"), "missing.csv: no such file"),
        ({"csv_files_definition": "nowhere.json"}, "csv_files_definition 'nowhere.json': cannot read it: No such file"),
        ({"csv_files_definition": "a_folder.json"}, "csv_files_definition 'a_folder.json': cannot read it: Is a dir"),
        ({"csv_files_definition": "bad.json"}, "csv_files_definition 'bad.json' is not JSON: "),
        ({"csv_files_definition": "latin.json"}, "csv_files_definition 'latin.json' is not UTF-8 text"),
        ({"csv_files_definition": "object.json"}, "`csv_files_definition` must be a list of objects."),
        ({"files": [{"entity": "orders", "path": " "}]}, "files[0].path is required (a non-empty string)."),
    ]
    for config, message in cases:
        assert_one_line_error(run_tap(config, tmp_path, args=args), message)


def test_settings_the_sdk_checks_end_on_one_line_too(tmp_path):
    # config_jsonschema's own checks (a sync validates the settings before anything else; a discovery does not)
    (tmp_path / "orders.csv").write_text("id\n1\n", encoding="utf-8")
    cases = [
        ({**file_config("orders.csv"), "bad_rows": "drop"}, "'drop' is not one of ['emit', 'skip', 'fail'] in config"),
        ({"files": [{"entity": "orders"}]}, "'path' is a required property in config['files'][0]"),
    ]
    for config, message in cases:
        assert_one_line_error(run_tap(config, tmp_path), message)


def test_a_bug_keeps_its_traceback(monkeypatch):
    class Bug(RuntimeError):
        pass

    def broken_cli() -> None:
        raise Bug("not the user's doing")

    monkeypatch.setattr(tap.TapCSV, "cli", broken_cli)
    with pytest.raises(Bug):
        tap.main()


def test_a_user_error_exits_1_in_process(monkeypatch, caplog):
    def cli() -> None:
        raise tap.UserError("orders.csv: no such file\nsecond line")

    monkeypatch.setattr(tap.TapCSV, "cli", cli)
    with pytest.raises(SystemExit) as exit_info:
        tap.main()
    assert exit_info.value.code == 1
    assert [record.getMessage() for record in caplog.records] == ["orders.csv: no such file second line"]
