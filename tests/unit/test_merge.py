"""Three-way merge: examples plus hypothesis properties."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from outlook_sync.sync.merge import (
    CONFLICT_TYPE,
    SYNC_FIELDS,
    MergeResult,
    ResolutionError,
    SyncConflict,
    clean_custom_value,
    default_rules,
    deletion_conflict,
    edited_fields,
    merge,
    merge_deletion,
    resolve,
    rule_key,
    suggest,
)

EVENT_TYPES = ["client_meeting", "wedding_ceremony", "deadline"]
WHENS = [
    {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:00:00Z", "allDay": False},
    {"start": "2026-06-20T16:00:00Z", "end": "2026-06-20T17:00:00Z", "allDay": False},
    {"start": "2026-06-20", "end": "2026-06-21", "allDay": True},
    {"start": "2026-06-27", "end": "2026-06-28", "allDay": True},
]
VALUES = {
    "title": ["Consultation", "Tasting", "Final fitting", ""],
    "when": WHENS,
    "location": ["", "The Old Barn", "the old  barn", "The Old Barn, Kent"],
    "description": ["", "Bring samples", "Bring samples and the shortlist", "Parking at rear"],
    "attendees": [[], ["priya@example.com"], ["priya@example.com", "sam@example.com"], ["sam@example.com"]],
}

MODEST = settings(max_examples=200)


def field_values(name):
    return st.sampled_from(VALUES[name])


@st.composite
def snapshots(draw, attendees_tracked=None):
    tracked = draw(st.booleans()) if attendees_tracked is None else attendees_tracked
    snap = {name: draw(field_values(name)) for name in SYNC_FIELDS if name != "attendees"}
    snap["attendees"] = draw(field_values("attendees")) if tracked else None
    return snap


@st.composite
def triples(draw, allow_no_base=True):
    """(base, wedsync, outlook) with attendees tracked consistently, as mapping produces them."""
    tracked = draw(st.booleans())
    base = draw(snapshots(tracked))
    if allow_no_base and draw(st.integers(0, 5)) == 0:
        base = None
    return base, draw(snapshots(tracked)), draw(snapshots(tracked))


def swap_rules(rules):
    return {k: {"wedsync": "outlook", "outlook": "wedsync"}[v] for k, v in rules.items()}


rules_strategy = st.dictionaries(
    st.builds(rule_key, st.sampled_from(EVENT_TYPES + ["*"]), st.sampled_from(sorted(set(CONFLICT_TYPE.values())))),
    st.sampled_from(["wedsync", "outlook"]),
    max_size=3,
)


# --------------------------------------------------------------------------- examples

BASE = {"title": "Consultation", "when": WHENS[0], "location": "The Old Barn", "description": "", "attendees": ["priya@example.com"]}


def test_different_fields_edited_on_each_side_are_both_kept():
    result = merge(BASE, {**BASE, "title": "Tasting"}, {**BASE, "location": "Registry office"}, event_type="client_meeting")
    assert result.is_clean
    assert result.to_outlook == {"title": "Tasting"}
    assert result.to_wedsync == {"location": "Registry office"}
    assert result.merged == {**BASE, "title": "Tasting", "location": "Registry office"}


def test_same_field_edited_differently_is_a_conflict_and_keeps_the_base():
    result = merge(BASE, {**BASE, "when": WHENS[1]}, {**BASE, "when": WHENS[2], "title": "Tasting"}, event_type="wedding_ceremony")
    assert result.conflicts == (SyncConflict("when", WHENS[1], WHENS[2], "date_time", "manual_review"),)
    assert not result.is_clean
    assert result.merged["when"] == WHENS[0]
    assert result.to_wedsync == {"title": "Tasting"}  # the other field still syncs
    assert "when" not in result.to_outlook


def test_same_edit_on_both_sides_is_not_a_conflict():
    result = merge(BASE, {**BASE, "title": "Tasting"}, {**BASE, "title": "Tasting"}, event_type="client_meeting")
    assert result.is_clean and result.merged["title"] == "Tasting"
    assert result.to_wedsync == result.to_outlook == {}


def test_first_contact_treats_every_difference_as_a_conflict():
    result = merge(None, {**BASE, "title": "Tasting"}, BASE, event_type="client_meeting")
    assert [c.field for c in result.conflicts] == ["title"]
    assert result.merged["title"] is None
    assert result.merged["location"] == "The Old Barn"


def test_untracked_attendees_never_conflict():
    result = merge(BASE, {**BASE, "attendees": None}, {**BASE, "attendees": ["x@example.com"]}, event_type="wedding_ceremony")
    assert result.is_clean and result.merged["attendees"] is None
    assert "attendees" not in result.to_wedsync and "attendees" not in result.to_outlook


@pytest.mark.parametrize(
    "field, wedsync, outlook, suggestion",
    [
        ("title", "Tasting", "Menu tasting", "use_wedsync"),
        ("attendees", ["a@example.com"], ["b@example.com"], "use_wedsync"),
        ("when", WHENS[1], WHENS[2], "manual_review"),
        ("location", "The Old Barn", "the old  barn ", "use_outlook"),
        ("location", "The Old Barn", "The Old Barn, Kent", "use_outlook"),
        ("description", "Bring samples and the shortlist", "Bring samples", "use_wedsync"),
        ("description", "Bring samples", "Parking at rear", "manual_review"),
    ],
)
def test_suggested_resolutions(field, wedsync, outlook, suggestion):
    base = {**BASE, "location": "Registry office", "description": "x", "attendees": ["c@example.com"]}
    result = merge(base, {**base, field: wedsync}, {**base, field: outlook}, event_type="client_meeting")
    assert result.conflicts[0].suggested_resolution == suggestion


def test_rule_for_the_type_beats_the_wildcard_rule():
    rules = {"client_meeting:title": "outlook", "*:title": "wedsync"}
    result = merge(BASE, {**BASE, "title": "A"}, {**BASE, "title": "B"}, event_type="client_meeting", rules=rules)
    assert result.is_clean and result.merged["title"] == "B" and result.to_wedsync == {"title": "B"}
    assert result.auto_resolved == ("title",)
    other = merge(BASE, {**BASE, "title": "A"}, {**BASE, "title": "B"}, event_type="deadline", rules=rules)
    assert other.merged["title"] == "A" and other.to_outlook == {"title": "A"}


def test_rules_accept_the_stored_use_side_spelling():
    result = merge(BASE, {**BASE, "location": "A"}, {**BASE, "location": "B"}, event_type="venue_visit", rules={"*:location": "use_outlook"})
    assert result.is_clean and result.merged["location"] == "B"


def test_conflict_contract_round_trip():
    conflict = SyncConflict("when", WHENS[0], WHENS[1], "date_time", "manual_review")
    contract = conflict.to_contract()
    assert contract == {"field": "when", "wedSyncValue": WHENS[0], "outlookValue": WHENS[1], "conflictType": "date_time", "suggestedResolution": "manual_review"}
    assert SyncConflict.from_contract(contract) == conflict


# --------------------------------------------------------------------------- deletions


def test_deleted_on_one_side_and_untouched_on_the_other_is_deleted():
    assert merge_deletion(BASE, dict(BASE), deleted_on="outlook", event_type="client_meeting") == "delete"
    assert merge_deletion(BASE, {**BASE, "attendees": None}, deleted_on="wedsync", event_type="wedding_ceremony") == "delete"


def test_deleted_on_one_side_and_edited_on_the_other_is_a_conflict():
    surviving = {**BASE, "location": "Registry office", "when": WHENS[3]}
    assert merge_deletion(BASE, surviving, deleted_on="outlook", event_type="client_meeting") == "conflict"
    conflict = deletion_conflict(BASE, surviving, deleted_on="outlook")
    assert conflict == SyncConflict("deleted", surviving, None, "date_time", "manual_review")
    assert deletion_conflict(BASE, surviving, deleted_on="wedsync").wedsync_value is None


def test_deletion_without_a_base_is_never_automatic():
    assert merge_deletion(None, BASE, deleted_on="wedsync", event_type="client_meeting") == "conflict"
    with pytest.raises(ValueError):
        merge_deletion(BASE, BASE, deleted_on="both", event_type="client_meeting")


# --------------------------------------------------------------------------- resolve

CONFLICTS = (
    SyncConflict("title", "A", "B", "title", "use_wedsync"),
    SyncConflict("when", WHENS[0], WHENS[1], "date_time", "manual_review"),
    SyncConflict("attendees", ["a@example.com"], ["b@example.com"], "attendees", "use_wedsync"),
)


def test_resolve_each_way_and_custom():
    chosen = resolve(
        CONFLICTS,
        {
            "title": {"useValue": "outlook"},
            "when": {"useValue": "custom", "customValue": {"start": "2026-06-20T17:00:00+01:00", "end": "2026-06-20T18:30:00+01:00", "allDay": False}},
            "attendees": {"useValue": "custom", "customValue": ["Sam@Example.com", "a@example.com"]},
        },
    )
    assert chosen == {
        "title": "B",
        "when": {"start": "2026-06-20T16:00:00Z", "end": "2026-06-20T17:30:00Z", "allDay": False},
        "attendees": ["a@example.com", "sam@example.com"],
    }


def test_partial_resolution_leaves_the_rest_open():
    assert resolve(CONFLICTS, {"when": {"useValue": "wedsync"}}) == {"when": WHENS[0]}


def test_custom_all_day_when():
    chosen = resolve(CONFLICTS, {"when": {"useValue": "custom", "customValue": {"start": "2026-07-01", "end": "2026-07-03", "allDay": True}}})
    assert chosen["when"] == {"start": "2026-07-01", "end": "2026-07-03", "allDay": True}


@pytest.mark.parametrize(
    "resolutions, field, words",
    [
        ({"colour": {"useValue": "wedsync"}}, "colour", "not something WedSync syncs"),
        ({"location": {"useValue": "wedsync"}}, "location", "no conflict"),
        ({"title": {"useValue": "mine"}}, "title", '"wedsync", "outlook" or "custom"'),
        ({"title": "outlook"}, "title", '"wedsync", "outlook" or "custom"'),
        ({"title": {"useValue": "custom"}}, "title", "Enter the value"),
        ({"title": {"useValue": "custom", "customValue": "   "}}, "title", "can't be empty"),
        ({"when": {"useValue": "custom", "customValue": {"start": "2026-06-20T15:00:00Z"}}}, "when", '"start", "end" and "allDay"'),
        ({"when": {"useValue": "custom", "customValue": {"start": "soon", "end": "later", "allDay": False}}}, "when", "must look like"),
        ({"when": {"useValue": "custom", "customValue": {"start": "2026-06-20T15:00:00", "end": "2026-06-20T16:00:00", "allDay": False}}}, "when", "time zone"),
        ({"when": {"useValue": "custom", "customValue": {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T15:00:00Z", "allDay": False}}}, "when", "end after it starts"),
        ({"when": {"useValue": "custom", "customValue": {"start": "2026-06-20", "end": "2026-06-20", "allDay": True}}}, "when", "end after the day"),
        ({"when": {"useValue": "custom", "customValue": {"start": "2026-06-20", "end": "2026-06-21", "allDay": "yes"}}}, "when", "true or false"),
        ({"attendees": {"useValue": "custom", "customValue": "a@example.com"}}, "attendees", "list of email addresses"),
        ({"attendees": {"useValue": "custom", "customValue": ["not-an-email"]}}, "attendees", "don't look like email addresses: not-an-email"),
    ],
)
def test_resolve_rejects_bad_input(resolutions, field, words):
    with pytest.raises(ResolutionError) as exc:
        resolve(CONFLICTS, resolutions)
    assert set(exc.value.errors) == {field}
    assert words in exc.value.errors[field]


def test_resolve_needs_at_least_one_resolution():
    with pytest.raises(ResolutionError) as exc:
        resolve(CONFLICTS, {})
    assert "resolutions" in exc.value.errors


def test_resolve_a_deletion_conflict():
    conflict = deletion_conflict(BASE, {**BASE, "title": "Tasting"}, deleted_on="outlook")
    assert resolve([conflict], {"deleted": {"useValue": "outlook"}}) == {"deleted": None}
    assert resolve([conflict], {"deleted": {"useValue": "wedsync"}}) == {"deleted": {**BASE, "title": "Tasting"}}
    with pytest.raises(ResolutionError):
        resolve([conflict], {"deleted": {"useValue": "custom", "customValue": {}}})


def test_default_rules_come_from_side_choices_only():
    resolutions = {"title": {"useValue": "outlook"}, "when": {"useValue": "custom", "customValue": WHENS[2]}, "attendees": {"useValue": "wedsync"}}
    assert default_rules(CONFLICTS, resolutions, event_type="client_meeting") == {"client_meeting:title": "outlook", "client_meeting:attendees": "wedsync"}


# --------------------------------------------------------------------------- properties


def apply(result: MergeResult, wedsync: dict, outlook: dict) -> tuple[dict, dict]:
    return {**wedsync, **result.to_wedsync}, {**outlook, **result.to_outlook}


@MODEST
@given(snapshots(), st.sampled_from(EVENT_TYPES), rules_strategy)
def test_merge_of_identical_sides_is_clean_and_changes_nothing(snapshot, event_type, rules):
    result = merge(snapshot, dict(snapshot), dict(snapshot), event_type=event_type, rules=rules)
    assert result.is_clean
    assert result.to_wedsync == {} and result.to_outlook == {}
    assert result.merged == snapshot


@MODEST
@given(st.booleans().flatmap(lambda tracked: st.tuples(snapshots(tracked), snapshots(tracked))), st.sampled_from(EVENT_TYPES), rules_strategy)
def test_one_sided_edits_always_propagate(pair, event_type, rules):
    base, edited = pair
    changed = {k: v for k, v in edited.items() if v != base[k]}
    from_wedsync = merge(base, edited, dict(base), event_type=event_type, rules=rules)
    assert from_wedsync.is_clean
    assert from_wedsync.to_outlook == changed and from_wedsync.to_wedsync == {}
    assert from_wedsync.merged == edited
    from_outlook = merge(base, dict(base), edited, event_type=event_type, rules=rules)
    assert from_outlook.is_clean
    assert from_outlook.to_wedsync == changed and from_outlook.to_outlook == {}
    assert from_outlook.merged == edited


@MODEST
@given(triples(), st.sampled_from(EVENT_TYPES), rules_strategy)
def test_merge_is_symmetric(triple, event_type, rules):
    base, wedsync, outlook = triple
    forward = merge(base, wedsync, outlook, event_type=event_type, rules=rules)
    backward = merge(base, outlook, wedsync, event_type=event_type, rules=swap_rules(rules))
    assert forward.merged == backward.merged
    assert forward.to_wedsync == backward.to_outlook
    assert forward.to_outlook == backward.to_wedsync
    assert [(c.field, c.wedsync_value, c.outlook_value, c.conflict_type) for c in forward.conflicts] == [
        (c.field, c.outlook_value, c.wedsync_value, c.conflict_type) for c in backward.conflicts
    ]


@MODEST
@given(triples(), st.sampled_from(EVENT_TYPES), rules_strategy)
def test_applying_the_result_makes_both_sides_agree_outside_conflicts(triple, event_type, rules):
    base, wedsync, outlook = triple
    result = merge(base, wedsync, outlook, event_type=event_type, rules=rules)
    new_wedsync, new_outlook = apply(result, wedsync, outlook)
    conflicted = {c.field for c in result.conflicts}
    for name in SYNC_FIELDS:
        if name in conflicted:
            assert new_wedsync[name] == wedsync[name] and new_outlook[name] == outlook[name]  # nothing written over an open conflict
        elif name == "attendees" and wedsync[name] is None:
            continue
        else:
            assert new_wedsync[name] == new_outlook[name] == result.merged[name]
    # ...and merging again from the new base is a no-op apart from the open conflicts.
    again = merge(result.merged, new_wedsync, new_outlook, event_type=event_type, rules=rules)
    assert again.to_wedsync == {} and again.to_outlook == {}
    assert {c.field for c in again.conflicts} == conflicted


@MODEST
@given(triples(), st.sampled_from(EVENT_TYPES), st.sampled_from(SYNC_FIELDS), st.sampled_from(["wedsync", "outlook"]), st.booleans())
def test_a_rule_always_removes_the_conflict_of_its_type(triple, event_type, field, side, wildcard):
    base, wedsync, outlook = triple
    unruled = merge(base, wedsync, outlook, event_type=event_type)
    assume(any(c.field == field for c in unruled.conflicts))
    rules = {rule_key("*" if wildcard else event_type, CONFLICT_TYPE[field]): side}
    result = merge(base, wedsync, outlook, event_type=event_type, rules=rules)
    assert all(c.conflict_type != CONFLICT_TYPE[field] for c in result.conflicts)
    chosen = (wedsync if side == "wedsync" else outlook)[field]
    assert result.merged[field] == chosen
    other = result.to_outlook if side == "wedsync" else result.to_wedsync
    assert other[field] == chosen
    # Every other conflict is untouched.
    assert [c for c in unruled.conflicts if c.field != field] == list(result.conflicts)


@MODEST
@given(triples(), st.sampled_from(EVENT_TYPES))
def test_no_edit_is_lost(triple, event_type):
    base, wedsync, outlook = triple
    result = merge(base, wedsync, outlook, event_type=event_type)
    conflicts = {c.field: c for c in result.conflicts}
    for side, snapshot in (("wedsync", wedsync), ("outlook", outlook)):
        for name in SYNC_FIELDS:
            if snapshot[name] is None or base is not None and snapshot[name] == base[name]:
                continue
            assert result.merged[name] == snapshot[name] or conflicts[name].value_of(side) == snapshot[name]


# --------------------------------------------------------------------------- found by mutation testing (scripts/mutation.sh)

def test_an_edit_of_the_attendee_list_counts_as_an_edit():
    surviving = {**BASE, "attendees": ["priya@example.com", "sam@example.com"]}
    assert edited_fields(BASE, surviving) == ["attendees"]
    assert merge_deletion(BASE, surviving, deleted_on="outlook", event_type="client_meeting") == "conflict"


def test_a_deletion_conflict_with_no_field_edited_is_typed_as_the_title():
    assert deletion_conflict(BASE, dict(BASE), deleted_on="wedsync").conflict_type == "title"


def test_a_cleared_field_against_text_is_left_to_the_supplier():
    assert suggest("location", "", "X") == "manual_review"
    assert suggest("description", None, "Parking at rear") == "manual_review"


def test_merge_deletion_names_the_bad_side():
    with pytest.raises(ValueError, match="deleted_on must be 'wedsync' or 'outlook', not 'both'"):
        merge_deletion(BASE, BASE, deleted_on="both", event_type="client_meeting")


def test_a_resolution_error_lists_every_field_in_its_message():
    assert str(ResolutionError({"title": "Too long.", "when": "Missing."})) == "title: Too long.; when: Missing."


def test_resolve_reports_every_bad_field_at_once():
    with pytest.raises(ResolutionError) as exc:
        resolve(CONFLICTS, {"colour": {"useValue": "wedsync"}, "location": {"useValue": "wedsync"}, "title": {"useValue": "mine"}})
    assert set(exc.value.errors) == {"colour", "location", "title"}


def _deleted():
    return deletion_conflict(BASE, {**BASE, "title": "Tasting"}, deleted_on="outlook")


@pytest.mark.parametrize(
    "conflicts, resolutions, field, message",
    [
        (CONFLICTS, {}, "resolutions", "Choose how to resolve at least one conflict."),
        (CONFLICTS, {"colour": {"useValue": "wedsync"}}, "colour", '"colour" is not something WedSync syncs with Outlook.'),
        (CONFLICTS, {"location": {"useValue": "wedsync"}}, "location", "There is no conflict to resolve for this field (it may already be in sync)."),
        (CONFLICTS, {"title": {"useValue": "mine"}}, "title", 'Choose "wedsync", "outlook" or "custom".'),
        (CONFLICTS, {"title": {"useValue": "custom"}}, "title", "Enter the value you want to use on both calendars."),
        ([_deleted()], {"deleted": {"useValue": "custom", "customValue": {}}}, "deleted",
         "Choose whether to keep the event (the side that still has it) or delete it; a custom value isn't possible here."),
    ],
)
def test_resolve_speaks_these_exact_words_to_the_supplier(conflicts, resolutions, field, message):
    with pytest.raises(ResolutionError) as exc:
        resolve(conflicts, resolutions)
    assert exc.value.errors == {field: message}


T, AWARE = "2026-06-20T15:00:00Z", "2026-06-20T16:00:00Z"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("title", "   ", "The title can't be empty."),
        ("title", 5, "The title can't be empty."),
        ("title", "x" * 256, "Keep the title to 255 characters or fewer."),
        ("location", 5, "The location must be text."),
        ("location", "x" * 256, "Keep the location to 255 characters or fewer."),
        ("description", ["notes"], "The description must be text."),
        ("attendees", "a@example.com", "Attendees must be a list of email addresses."),
        ("attendees", ["bad", "worse"], "These don't look like email addresses: bad, worse."),
        ("colour", "blue", '"colour" is not something WedSync syncs with Outlook.'),
        ("when", {"start": T}, 'The date and time need "start", "end" and "allDay".'),
        ("when", {"start": T, "end": AWARE, "allDay": "yes"}, '"allDay" must be true or false.'),
        ("when", {"start": "20/06/2026", "end": "21/06/2026", "allDay": True}, "All-day dates must look like 2026-06-20."),
        ("when", {"start": "2026-06-21", "end": "2026-06-21", "allDay": True},
         "An all-day event must end after the day it starts (the end date is the day after the last day)."),
        ("when", {"start": "soon", "end": AWARE, "allDay": False}, "Times must look like 2026-06-20T15:00:00Z."),
        ("when", {"start": T, "end": "2026-06-20T16:00:00", "allDay": False},
         "Times need a time zone, for example 2026-06-20T15:00:00Z or 2026-06-20T16:00:00+01:00."),
        ("when", {"start": AWARE, "end": T, "allDay": False}, "The event must end after it starts."),
    ],
)
def test_custom_values_are_refused_in_these_exact_words(name, value, message):
    with pytest.raises(ValueError) as exc:
        clean_custom_value(name, value)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "name, value, clean",
    [
        ("title", "  Tasting  ", "Tasting"),
        ("title", "x" * 255, "x" * 255),
        ("location", " The Old Barn ", "The Old Barn"),
        ("location", "x" * 255, "x" * 255),
        ("description", "Bring samples\r\nand the shortlist\r\n", "Bring samples\nand the shortlist"),
        # An all-day custom value given as a full timestamp keeps its date.
        ("when", {"start": "2026-06-20T00:00:00Z", "end": "2026-06-22T00:00:00Z", "allDay": True},
         {"start": "2026-06-20", "end": "2026-06-22", "allDay": True}),
    ],
)
def test_custom_values_are_cleaned(name, value, clean):
    assert clean_custom_value(name, value) == clean


def test_a_custom_time_is_stored_in_utc_whatever_the_machine_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        cleaned = clean_custom_value("when", {"start": "2026-06-20T17:00:00+01:00", "end": "2026-06-20T18:30:00+01:00", "allDay": False})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert cleaned == {"start": "2026-06-20T16:00:00Z", "end": "2026-06-20T17:30:00Z", "allDay": False}


def test_default_rules_ignore_a_choice_that_is_not_an_object():
    assert default_rules(CONFLICTS, {"title": "outlook"}, event_type="client_meeting") == {}
