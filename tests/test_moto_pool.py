"""Within pytest, a stopped moto server is emptied and kept for the next start (local_stand_ins/s3.py, MOTO_POOL)."""

from __future__ import annotations

from local_stand_ins.s3 import start_moto


def bucket_names(moto) -> list[str]:
    return [bucket["Name"] for bucket in moto.client().list_buckets()["Buckets"]]


def test_a_stopped_server_comes_back_empty_and_one_in_use_is_never_shared():
    first = start_moto()
    first.put("kept-from-before", "accounts.json", "[]")
    other = start_moto()  # the first is in use: another server
    assert other.endpoint_url != first.endpoint_url
    other.put("the-other-one", "state.json", "{}")
    first.stop()

    again = start_moto()
    try:
        assert again is first and again.process.poll() is None
        assert bucket_names(again) == []  # nothing of the test before
        assert bucket_names(other) == ["the-other-one"]  # a reset empties only the server it was sent to
    finally:
        again.stop()
        other.stop()


def test_a_server_enforcing_iam_is_never_kept():
    strict = start_moto(no_auth_actions=2)
    strict.stop()
    assert strict.process.poll() is not None
    kept = start_moto()
    kept.stop()
    assert kept is not strict
