"""The `plan` pod, run from the rendered WorkflowTemplate as Argo would run it (its command, arguments and
Secret-fed environment), against an accounts file on a local S3: account names out, keys never; the old app's
parameters checked before any sync pod starts, with messages that name what is wrong."""

from __future__ import annotations

import json

import pytest
from argo_manifests import FULL_SCHEDULE, LIGHT_SCHEDULE, LocalArgo, scheduled_template, template

KEYS = ["pk_secret_a1b2c3d4e5", "pk_secret_f6g7h8i9j0", "pk_secret_k1l2m3n4o5"]
ACCOUNTS = [
    {"account": "brand_a", "api_key": KEYS[0]},
    {"account": "Blue Fern Botanicals", "api_key": KEYS[1]},
    {"account": "brand.c/eu", "api_key": KEYS[2], "id": "XyZ123"},
]
PARAMETERS = {"sync_type": "incremental", "included_steps": "all", "single_account": ""}


@pytest.fixture(scope="module")
def accounts_uri(moto_s3):
    return moto_s3.put("orchestrate-plan", "brands/accounts.json", json.dumps(ACCOUNTS))


def plan(
    moto_s3,
    tmp_path,
    accounts_file: str,
    config: dict[str, str] | None = None,
    schedule: str = FULL_SCHEDULE,
    **parameters: str,
) -> tuple[LocalArgo, int, str]:
    workflow_template = scheduled_template(schedule)
    secret = {
        "KLAVIYO_ACCOUNTS_FILE": accounts_file,
        "MELTANO_STATE_BACKEND_URI": "s3://unused/state",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # `config`: tap settings as the prod environment could set them (TAP_KLAVIYO_<SETTING>).
    stand_ins = {"AWS_ENDPOINT_URL_S3": moto_s3.endpoint_url, **(config or {})}
    argo = LocalArgo(workflow_template, secret, stand_ins, tmp_path)
    values = {f"workflow.parameters.{name}": value for name, value in (PARAMETERS | parameters).items()}
    run = argo.run_container("plan", values)
    return argo, run.code, run.output


def test_every_account_by_name_each_with_a_state_id_suffix_and_no_key(moto_s3, tmp_path, accounts_uri):
    argo, code, output = plan(moto_s3, tmp_path, accounts_uri)
    assert code == 0, output
    outputs = argo.outputs("plan")
    assert json.loads(outputs["accounts"]) == [
        {"account": "brand_a", "state_id_suffix": "brand_a"},
        {"account": "Blue Fern Botanicals", "state_id_suffix": "Blue-Fern-Botanicals"},
        {"account": "brand.c/eu", "state_id_suffix": "brand.c-eu"},
    ]  # no ':' or '/' in a state id
    assert json.loads(outputs["select_filter"]) == []  # every stream
    assert json.loads(outputs["full_refresh"]) is False
    assert json.loads(outputs["mark_deletions"]) is True  # every account: the run ends by marking deletions
    assert (
        "3 account(s), one pod each: brand_a, Blue Fern Botanicals, brand.c/eu; every stream; incremental; "
        "then mark deletions" in output
    )
    everything = output + "".join(outputs.values())
    for key in KEYS:
        assert key not in everything
    assert "XyZ123" not in everything


def test_the_old_parameters_one_account_some_streams_full_refresh(moto_s3, tmp_path, accounts_uri):
    argo, code, output = plan(
        moto_s3,
        tmp_path,
        accounts_uri,
        sync_type="full",
        included_steps=" Events, list*, !list_members ",
        single_account="blue fern botanicals",
    )
    assert code == 0, output
    outputs = argo.outputs("plan")
    assert json.loads(outputs["accounts"]) == [
        {"account": "Blue Fern Botanicals", "state_id_suffix": "Blue-Fern-Botanicals"}
    ]
    assert json.loads(outputs["select_filter"]) == ["events", "list*", "!list_members"]
    assert json.loads(outputs["full_refresh"]) is True
    # Some accounts only: the others' rows were not read again, so nothing may be marked deleted.
    assert json.loads(outputs["mark_deletions"]) is False
    assert (
        "deletions not marked (a light run, or some accounts only: the next full run of every account marks them)"
        in output
    )


def test_accounts_limited_by_the_tap_setting_do_not_mark_deletions_either(moto_s3, tmp_path, accounts_uri):
    argo, code, output = plan(moto_s3, tmp_path, accounts_uri, config={"TAP_KLAVIYO_ACCOUNTS": "brand_a,brand.c/eu"})
    assert code == 0, output
    outputs = argo.outputs("plan")
    assert [entry["account"] for entry in json.loads(outputs["accounts"])] == ["brand_a", "brand.c/eu"]
    assert json.loads(outputs["mark_deletions"]) is False


def test_a_light_run_syncs_every_account_and_never_marks_deletions(moto_s3, tmp_path, accounts_uri):
    # It reads none of the listings whose deletions are marked: activating its version would mark them all deleted.
    argo, code, output = plan(moto_s3, tmp_path, accounts_uri, schedule=LIGHT_SCHEDULE)
    assert code == 0, output
    outputs = argo.outputs("plan")
    assert len(json.loads(outputs["accounts"])) == len(ACCOUNTS)
    assert json.loads(outputs["mark_deletions"]) is False


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"single_account": "brand_b"},
            "single_account: unknown account 'brand_b'; known accounts: 'brand_a', 'Blue Fern Botanicals', "
            "'brand.c/eu'",
        ),
        ({"included_steps": "events,campains"}, "included_steps: 'campains' names no stream; streams are accounts, "),
        ({"included_steps": "events.datetime"}, "included_steps: 'events.datetime' names no stream"),
        ({"sync_type": "test"}, "sync_type 'test': use one of incremental, full"),
    ],
)
def test_a_wrong_parameter_stops_the_run_at_once_naming_it(moto_s3, tmp_path, accounts_uri, parameters, message):
    # A parameter that needs no configuration is checked before Meltano starts: here Meltano would find no project.
    config = {} if "single_account" in parameters else {"MELTANO_PROJECT_ROOT": str(tmp_path / "no-project")}
    _, code, output = plan(moto_s3, tmp_path, accounts_uri, config=config, **parameters)
    assert code == 2  # the template's retryStrategy does not retry exit 2
    assert f"plan: {message}" in output
    assert not (tmp_path / "plan").exists()  # no fan-out list: no sync pod starts
    for key in KEYS:
        assert key not in output


def test_an_unreadable_accounts_file_is_retried_and_named(moto_s3, tmp_path):
    missing = f"s3://orchestrate-plan/{tmp_path.name}/nothing-here.json"
    _, code, output = plan(moto_s3, tmp_path, missing)
    assert code == 1  # S3 may be back on the next attempt
    assert f"plan: accounts: {missing}: no object" in output


def test_an_account_that_would_take_the_last_steps_state_id_is_refused(moto_s3, tmp_path):
    workflow_template = scheduled_template()
    args = template(workflow_template, "mark-deletions")["container"]["args"]
    assert args[args.index("--state-id-suffix") + 1] == "mark-deletions"
    taken = moto_s3.put(
        "orchestrate-plan",
        f"{tmp_path.name}.json",
        json.dumps([{"account": "brand_a", "api_key": KEYS[0]}, {"account": "Mark Deletions", "api_key": KEYS[1]}]),
    )
    _, code, output = plan(moto_s3, tmp_path, taken)
    assert code == 1
    assert "plan: account 'Mark Deletions': its state id suffix 'Mark-Deletions' is taken by the run's last step" in (
        output
    )


def test_two_accounts_that_would_share_a_state_id_are_refused(moto_s3, tmp_path):
    clash = moto_s3.put(
        "orchestrate-plan",
        f"{tmp_path.name}.json",
        json.dumps([{"account": "Blue Fern", "api_key": KEYS[0]}, {"account": "Blue/Fern", "api_key": KEYS[1]}]),
    )
    _, code, output = plan(moto_s3, tmp_path, clash)
    assert code == 1
    assert "plan: accounts 'Blue Fern' and 'Blue/Fern' would share the state id suffix 'Blue-Fern'" in output
