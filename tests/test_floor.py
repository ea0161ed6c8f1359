"""The floor rules of one conference (mcu/floor.py): grants, revocation, lock, chair
actions, leaving, refusals that change nothing, and the notices each step produces."""

from __future__ import annotations

import pytest

from mcu.errors import Fault
from mcu.floor import (
    FINISHED_KEPT,
    Floor,
    FloorError,
    Notice,
    Refusal,
    RequestStatus,
)

A, B, C, VIEWER = "sip:a", "sip:b", "sip:c", "sip:viewer"


@pytest.fixture
def floor() -> Floor:
    f = Floor()
    for site in (A, B, C):
        f.join(site, has_content_input=True)
    f.join(VIEWER, has_content_input=False)
    return f


def state(f: Floor) -> tuple[str | None, bool, dict]:
    return f.holder, f.locked, f.sites


def test_participant_request_is_granted(floor: Floor) -> None:
    request, change = floor.participant_request(A)
    assert request.status is RequestStatus.GRANTED and request.site == A
    assert not request.by_chair
    assert change.notices == (Notice(A, request.request_id, RequestStatus.GRANTED),)
    assert (change.holder_before, change.holder_after) == (None, A)
    assert floor.holder == A
    assert floor.request(request.request_id) == request


def test_a_new_grant_revokes_the_previous_holder(floor: Floor) -> None:
    first, _ = floor.participant_request(A)
    second, change = floor.participant_request(B)
    assert change.notices == (
        Notice(A, first.request_id, RequestStatus.REVOKED),
        Notice(B, second.request_id, RequestStatus.GRANTED),
    )
    assert (change.holder_before, change.holder_after) == (A, B)
    assert floor.request(first.request_id).status is RequestStatus.REVOKED
    assert second.request_id != first.request_id


def test_chair_grant_revokes_and_is_idempotent(floor: Floor) -> None:
    mine, _ = floor.participant_request(A)
    change = floor.chair_grant(B)
    assert change.notices[0] == Notice(A, mine.request_id, RequestStatus.REVOKED)
    assert change.notices[1].site == B and change.notices[1].status is RequestStatus.GRANTED
    assert floor.granted_request is not None and floor.granted_request.by_chair
    again = floor.chair_grant(B)
    assert not again.changed and floor.holder == B


def test_chair_release(floor: Floor) -> None:
    floor.chair_grant(A)
    granted = floor.granted_request
    assert granted is not None
    assert not floor.chair_release(B).changed  # B does not hold it: nothing to do
    change = floor.chair_release(A)
    assert change.notices == (Notice(A, granted.request_id, RequestStatus.RELEASED),)
    assert (change.holder_before, change.holder_after) == (A, None)
    assert floor.holder is None


def test_lock_denies_other_participants_and_refuses_the_chair(floor: Floor) -> None:
    floor.participant_request(A)
    change = floor.lock(B)  # B is granted and pinned, A revoked
    assert [n.status for n in change.notices] == [RequestStatus.REVOKED, RequestStatus.GRANTED]
    assert (floor.holder, floor.locked) == (B, True)
    assert change.locked_after and not change.locked_before
    denied, change = floor.participant_request(C)
    assert denied.status is RequestStatus.DENIED
    assert change.notices == (Notice(C, denied.request_id, RequestStatus.DENIED),)
    assert not change.holder_changed and floor.holder == B
    assert floor.request(denied.request_id).status is RequestStatus.DENIED
    before = state(floor)
    with pytest.raises(FloorError) as refused:
        floor.chair_grant(C)
    assert refused.value.refusal is Refusal.LOCKED
    assert refused.value.fault is Fault.PRESENTATION_LOCKED
    with pytest.raises(FloorError):
        floor.lock(C)
    assert state(floor) == before
    floor.lock(B)  # the holder locking again: no change
    assert state(floor) == before


def test_unlock_keeps_the_holder_and_opens_the_floor(floor: Floor) -> None:
    floor.lock(A)
    change = floor.unlock()
    assert not change.notices and change.locked_before and not change.locked_after
    assert floor.holder == A
    _, change = floor.participant_request(B)
    assert change.holder_after == B


def test_lock_ends_when_the_holder_releases(floor: Floor) -> None:
    floor.lock(A)
    granted = floor.granted_request
    assert granted is not None
    change = floor.participant_release(A, granted.request_id)
    assert change.notices == (Notice(A, granted.request_id, RequestStatus.RELEASED),)
    assert not floor.locked and floor.holder is None
    request, _ = floor.participant_request(B)
    assert request.status is RequestStatus.GRANTED


def test_leaving_releases_the_floor_and_the_lock(floor: Floor) -> None:
    floor.lock(A)
    granted = floor.granted_request
    assert granted is not None
    change = floor.leave(A)
    assert change.notices == (Notice(A, granted.request_id, RequestStatus.RELEASED),)
    assert (change.holder_after, change.locked_after) == (None, False)
    assert A not in floor.sites
    with pytest.raises(FloorError) as refused:
        floor.participant_request(A)
    assert refused.value.refusal is Refusal.UNKNOWN_SITE
    assert refused.value.bfcp_error_code == 2


def test_a_non_holder_leaving_changes_nothing_of_the_floor(floor: Floor) -> None:
    floor.participant_request(A)
    change = floor.leave(B)
    assert not change.changed and floor.holder == A


def test_site_without_content_input_is_refused_and_nothing_changes(floor: Floor) -> None:
    floor.participant_request(A)
    before = state(floor)
    for attempt in (floor.participant_request, floor.chair_grant, floor.lock):
        with pytest.raises(FloorError) as refused:
            attempt(VIEWER)
        assert refused.value.refusal is Refusal.NO_CONTENT_INPUT
        assert refused.value.fault is Fault.NOT_SUPPORTED
        assert refused.value.bfcp_error_code == 5
        assert state(floor) == before


def test_unknown_site_is_refused(floor: Floor) -> None:
    for attempt in (floor.participant_request, floor.chair_grant, floor.chair_release, floor.lock):
        with pytest.raises(FloorError) as refused:
            attempt("sip:nobody")
        assert refused.value.fault is Fault.SITE_NOT_CONNECTED


def test_holder_losing_its_content_input_loses_the_floor(floor: Floor) -> None:
    floor.participant_request(A)
    change = floor.join(A, has_content_input=False)
    assert change.holder_after is None
    assert change.notices[0].status is RequestStatus.RELEASED


def test_second_request_while_holding_is_refused(floor: Floor) -> None:
    floor.participant_request(A)
    with pytest.raises(FloorError) as refused:
        floor.participant_request(A)
    assert refused.value.refusal is Refusal.ALREADY_REQUESTED
    assert refused.value.bfcp_error_code == 8


def test_release_checks_the_request(floor: Floor) -> None:
    request, _ = floor.participant_request(A)
    with pytest.raises(FloorError) as refused:
        floor.participant_release(A, 999)
    assert refused.value.bfcp_error_code == 7
    with pytest.raises(FloorError) as refused:
        floor.participant_release(B, request.request_id)
    assert refused.value.refusal is Refusal.NOT_YOUR_REQUEST
    assert floor.holder == A
    floor.participant_release(A, request.request_id)
    again = floor.participant_release(A, request.request_id)  # already finished
    assert again.notices == (Notice(A, request.request_id, RequestStatus.RELEASED),)
    assert not again.holder_changed


def test_request_ids_are_16_bit_nonzero_and_history_is_bounded(floor: Floor) -> None:
    seen = []
    for turn in range(FINISHED_KEPT + 20):
        request, _ = floor.participant_request(A if turn % 2 else B)
        seen.append(request.request_id)
    assert all(1 <= rid <= 0xFFFF for rid in seen)
    assert len(set(seen)) == len(seen)
    with pytest.raises(FloorError):
        floor.request(seen[0])  # dropped from the bounded history
    assert floor.request(seen[-2]).status is RequestStatus.REVOKED
    holder = floor.holder
    assert holder is not None
    floor.chair_release(holder)
    floor._last_id = 0xFFFE  # jump to the end of the id space: the next ids wrap past 0
    ids = [floor.participant_request(site)[0].request_id for site in (A, B, C)]
    assert ids == [0xFFFF, 1, 2]
    floor._last_id = 1  # the next candidate, 2, is C's ongoing grant: skipped
    request, change = floor.participant_request(A)
    assert request.request_id == 3
    assert change.notices[0] == Notice(C, 2, RequestStatus.REVOKED)


def test_request_status_numbers_are_rfc_8855() -> None:
    assert [s.value for s in RequestStatus] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.name for s in RequestStatus] == [
        "PENDING",
        "ACCEPTED",
        "GRANTED",
        "DENIED",
        "CANCELLED",
        "RELEASED",
        "REVOKED",
    ]
