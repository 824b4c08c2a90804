"""The planner's table (``outlook_sync.sync.plan``), one test per row, plus the merge rules under it.

The planner is pure: these tests build its inputs directly and compare the
actions it returns. Row names (R1...) are those of the module docstring.
"""
from __future__ import annotations

import pytest

from outlook_sync.sync import merge
from outlook_sync.sync.plan import (
    REMINDER,
    ApplyToWedSync,
    CreateInOutlook,
    DeleteInOutlook,
    Direction,
    Forget,
    NoteOutlookVersion,
    Outlook,
    ReadOutlookAgain,
    RecordConflict,
    Remember,
    Seen,
    Settings,
    SoftDeleteInWedSync,
    State,
    UpdateOutlook,
    WedSync,
    plan,
    plan_disconnect_removal,
    plan_leaving_scope,
    plan_removal,
    strip_applied_prefix,
)

PREFIX = "WedSync: "
BASE = {
    "title": "Consultation",
    "when": {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:00:00Z", "allDay": False},
    "location": "The Old Barn",
    "description": "",
    "attendees": None,
}
SETTINGS = Settings(prefix=PREFIX, reminder=60)


def state(**kw) -> State:
    defaults = {"base": BASE, "synced_version": 3, "change_key": "ck1", "prefix_applied": PREFIX, "reminder_applied": 60, "reminder_known": True}
    return State(**{**defaults, **kw})


def ws(version=3, deleted=False, **changes) -> WedSync:
    return WedSync(None if deleted else {**BASE, **changes}, version=version, deleted=deleted)


def present(change_key="ck1", subject_prefix=PREFIX, reminder=60, **changes) -> Outlook:
    snap = {**BASE, **changes}
    snap["title"] = f"{subject_prefix}{snap['title']}"
    return Outlook(Seen.PRESENT, snapshot=snap, change_key=change_key, reminder=reminder)


UNREAD = Outlook(Seen.UNREAD)
DELETED = Outlook(Seen.DELETED)


def delete_conflict(deleted_on: str) -> merge.SyncConflict:
    return merge.deletion_conflict(BASE, {**BASE, "location": "Edited"}, deleted_on=deleted_on)


# --------------------------------------------------------------------------- the table


def test_r0_a_copy_turned_into_a_series_is_a_conflict_not_flattened():
    outlook = Outlook(Seen.PRESENT, snapshot={**BASE, "title": PREFIX + BASE["title"]}, change_key="ck5", is_series=True)
    (action,) = plan(state(), ws(version=3), outlook, SETTINGS)
    assert isinstance(action, RecordConflict) and action.change_key == "ck5"
    (conflict,) = action.conflicts
    assert conflict.field == "when" and conflict.outlook_value == {"recurring": True} and conflict.wedsync_value == BASE["when"]


@pytest.mark.parametrize("seen", [Seen.REMOVED, Seen.NOT_SEEN])
@pytest.mark.parametrize("wedsync", [ws(), ws(version=4, location="Moved"), ws(version=4, deleted=True)])
def test_r1_removed_or_not_seen_is_never_a_delete(seen, wedsync):
    assert plan(state(), wedsync, Outlook(seen), SETTINGS) == [ReadOutlookAgain()]


def test_r2_deleted_on_both_sides_is_forgotten():
    assert plan(state(), ws(version=4, deleted=True), DELETED, SETTINGS) == [Forget()]


@pytest.mark.parametrize("outlook", [present(change_key="ck2", location="Edited"), UNREAD])
def test_r3_an_open_wedsync_delete_conflict_is_kept(outlook):
    conflicts = (delete_conflict("wedsync"),)
    assert plan(state(conflicts=conflicts), ws(version=4, deleted=True), outlook, SETTINGS) == [RecordConflict(conflicts)]


def test_r3b_an_open_outlook_delete_conflict_then_a_wedsync_delete_is_forgotten():
    assert plan(state(conflicts=(delete_conflict("outlook"),)), ws(version=5, deleted=True), UNREAD, SETTINGS) == [Forget()]


@pytest.mark.parametrize("outlook", [DELETED, UNREAD])
def test_r4_an_open_outlook_delete_conflict_survives_later_edits_and_syncs(outlook):
    actions = plan(state(conflicts=(delete_conflict("outlook"),)), ws(version=5, title="Later edit"), outlook, SETTINGS)
    assert len(actions) == 1 and isinstance(actions[0], RecordConflict)
    (kept,) = actions[0].conflicts
    assert kept.field == "deleted" and kept.outlook_value is None and kept.wedsync_value["title"] == "Later edit"


def test_r5_an_open_delete_conflict_is_kept_when_the_copy_shows_up():
    conflicts = (delete_conflict("outlook"),)
    assert plan(state(conflicts=conflicts), ws(version=5), present(change_key="ck9"), SETTINGS) == [RecordConflict(conflicts, "ck9")]


@pytest.mark.parametrize("outlook", [DELETED, UNREAD, present()])
def test_r6_needs_recreate_makes_the_copy_again(outlook):
    actions = plan(state(needs_recreate=True), ws(version=4, title="Kept"), outlook, SETTINGS)
    assert actions[0] == CreateInOutlook(recreate=True)
    assert isinstance(actions[1], Remember) and actions[1].base["title"] == "Kept" and actions[1].prefix == PREFIX


def test_r7_a_wedsync_delete_with_unknown_change_key_reads_outlook_first():
    assert plan(state(change_key=None), ws(version=4, deleted=True), UNREAD, SETTINGS) == [ReadOutlookAgain()]


@pytest.mark.parametrize("outlook", [UNREAD, present()])
def test_r8_from_outlook_never_sends_a_wedsync_delete(outlook):
    assert plan(state(), ws(version=4, deleted=True), outlook, Settings(direction=Direction.FROM_OUTLOOK)) == [Forget()]


def test_r9_wedsync_delete_vs_outlook_edit_is_a_conflict():
    actions = plan(state(), ws(version=4, deleted=True), present(change_key="ck2", location="Edited"), SETTINGS)
    (action,) = actions
    assert isinstance(action, RecordConflict) and action.change_key == "ck2"
    (conflict,) = action.conflicts
    assert conflict.field == "deleted" and conflict.wedsync_value is None and conflict.outlook_value["location"] == "Edited"


def test_r10_wedsync_delete_of_an_unedited_copy_deletes_with_if_match():
    assert plan(state(), ws(version=4, deleted=True), UNREAD, SETTINGS) == [DeleteInOutlook("ck1"), Forget()]
    # A copy read now: its current key, also when only Outlook itself changed it (no field edited).
    assert plan(state(), ws(version=4, deleted=True), present(change_key="ck2"), SETTINGS) == [DeleteInOutlook("ck2"), Forget()]


def test_r10_to_outlook_deletes_even_an_edited_copy():
    actions = plan(state(), ws(version=4, deleted=True), present(change_key="ck2", location="x"), Settings(direction=Direction.TO_OUTLOOK))
    assert actions == [DeleteInOutlook("ck2"), Forget()]


def test_r11_to_outlook_recreates_a_copy_deleted_in_outlook():
    actions = plan(state(), ws(version=3), DELETED, Settings(direction=Direction.TO_OUTLOOK))
    assert actions[0] == CreateInOutlook(recreate=True) and isinstance(actions[1], Remember)


def test_r12_outlook_delete_vs_wedsync_edit_is_a_conflict():
    (action,) = plan(state(), ws(version=4, location="Edited"), DELETED, SETTINGS)
    assert isinstance(action, RecordConflict)
    (conflict,) = action.conflicts
    assert conflict.field == "deleted" and conflict.outlook_value is None and conflict.wedsync_value["location"] == "Edited"


def test_r12_a_pending_event_counts_as_changed():
    (action,) = plan(state(pending=True), ws(version=3, location="Edited"), DELETED, SETTINGS)
    assert isinstance(action, RecordConflict)


@pytest.mark.parametrize(("wedsync", "settings"), [
    (ws(version=3), SETTINGS),  # unedited
    (ws(version=4), SETTINGS),  # version moved, no field edited
    (ws(version=4, location="Edited"), Settings(direction=Direction.FROM_OUTLOOK)),
    (ws(version=4, location="Edited"), Settings(force=True)),
])
def test_r13_outlook_delete_of_an_unedited_event_soft_deletes_it_at_that_version(wedsync, settings):
    assert plan(state(), wedsync, DELETED, settings) == [SoftDeleteInWedSync(wedsync.version), Forget()]


def test_r14_unknown_change_key_reads_outlook_before_pushing():
    assert plan(state(change_key=None), ws(version=4, title="New"), UNREAD, SETTINGS) == [ReadOutlookAgain()]


def test_r15_clean_two_way_merge():
    actions = plan(state(), ws(version=4, title="New title"), present(change_key="ck2", location="New place"), SETTINGS)
    assert actions[0] == ApplyToWedSync({"location": "New place"}, 4)
    assert actions[1] == UpdateOutlook(frozenset({"title"}), "ck2")
    remember = actions[2]
    assert isinstance(remember, Remember) and remember.base == {**BASE, "title": "New title", "location": "New place"}
    assert remember.conflicts == () and remember.change_key == "ck2"


def test_r15_push_unread_uses_the_stored_change_key():
    assert plan(state(), ws(version=4, title="New"), UNREAD, SETTINGS)[0] == UpdateOutlook(frozenset({"title"}), "ck1")


def test_r15_an_outlook_echo_writes_nothing():
    actions = plan(state(), ws(), present(), SETTINGS)
    assert actions == [Remember(base=BASE, conflicts=(), prefix=PREFIX, reminder=60, change_key="ck1")]


def test_r15_outlook_changing_the_key_by_itself_is_no_edit():
    """Issue 14 class 16: HTML conversion, attendee responses move the changeKey only."""
    actions = plan(state(), ws(), present(change_key="ck7"), SETTINGS)
    assert actions == [Remember(base=BASE, conflicts=(), prefix=PREFIX, reminder=60, change_key="ck7")]


def test_r15_both_edited_is_a_conflict_and_nothing_is_written_for_that_field():
    actions = plan(state(), ws(version=4, location="WedSync place"), present(change_key="ck2", location="Outlook place"), SETTINGS)
    (remember,) = actions
    (conflict,) = remember.conflicts
    assert conflict.field == "location" and conflict.wedsync_value == "WedSync place" and conflict.outlook_value == "Outlook place"
    assert remember.base["location"] == BASE["location"]


def test_r15_an_open_conflict_is_not_settled_by_a_later_wedsync_edit():
    """Issue 14 class 2: the supplier edits the title while a location conflict is open."""
    conflict = merge.SyncConflict("location", "WedSync place", "Outlook place", "location", merge.MANUAL_REVIEW)
    st = state(conflicts=(conflict,), change_key="ck2")
    actions = plan(st, ws(version=5, title="New title", location="WedSync place"), UNREAD, SETTINGS)
    assert actions[0] == UpdateOutlook(frozenset({"title"}), "ck2")
    remember = actions[-1]
    assert [c.field for c in remember.conflicts] == ["location"]
    assert remember.conflicts[0].outlook_value == "Outlook place" and remember.base["location"] == BASE["location"]
    assert not any(isinstance(a, ApplyToWedSync) for a in actions)


def test_r15_an_open_conflict_goes_when_both_sides_agree():
    conflict = merge.SyncConflict("location", "WedSync place", "Outlook place", "location", merge.MANUAL_REVIEW)
    actions = plan(state(conflicts=(conflict,)), ws(version=5, location="Outlook place"), UNREAD, SETTINGS)
    assert actions[-1].conflicts == () and actions[-1].base["location"] == "Outlook place"
    assert not any(isinstance(a, UpdateOutlook) for a in actions)


def test_r15_a_stored_rule_decides_an_open_conflict():
    conflict = merge.SyncConflict("location", "WedSync place", "Outlook place", "location", merge.MANUAL_REVIEW)
    settings = Settings(rules={"client_meeting:location": "outlook"})
    actions = plan(state(conflicts=(conflict,)), ws(version=5, location="WedSync place"), UNREAD, settings)
    assert ApplyToWedSync({"location": "Outlook place"}, 5) in actions and actions[-1].conflicts == ()


def test_r15_force_makes_the_direction_win_open_conflicts():
    conflict = merge.SyncConflict("location", "WedSync place", "Outlook place", "location", merge.MANUAL_REVIEW)
    actions = plan(state(conflicts=(conflict,)), ws(version=5, location="WedSync place"), present(change_key="ck3", location="Outlook place"),
                   Settings(direction=Direction.TO_OUTLOOK, force=True))
    assert actions[0] == UpdateOutlook(frozenset({"location"}), "ck3") and actions[-1].conflicts == ()


def test_r15_one_way_from_outlook_writes_only_wedsync():
    actions = plan(state(), ws(version=4, title="WedSync title"), present(change_key="ck2", location="Outlook place"),
                   Settings(direction=Direction.FROM_OUTLOOK))
    assert not any(isinstance(a, UpdateOutlook) for a in actions)
    assert ApplyToWedSync({"title": "Consultation", "location": "Outlook place"}, 4) in actions


def test_r15_a_subject_retyped_without_the_prefix_is_written_back():
    """Issue 14 class 8."""
    actions = plan(state(), ws(), present(change_key="ck2", subject_prefix="", title="Consult (moved)"), SETTINGS)
    assert actions[0] == ApplyToWedSync({"title": "Consult (moved)"}, 3)
    assert actions[1] == UpdateOutlook(frozenset({"title"}), "ck2")


def test_r15_a_prefix_change_rewrites_the_subject_and_strips_the_old_prefix_exactly():
    """Issue 14 class 7: the subject still carries the old prefix; a later Outlook edit must not leak it into the title."""
    settings = Settings(prefix="[WS] ", reminder=60)
    actions = plan(state(), ws(), present(change_key="ck2", location="Edited in Outlook"), settings)
    assert actions[0] == ApplyToWedSync({"location": "Edited in Outlook"}, 3)
    assert actions[1] == UpdateOutlook(frozenset({"title"}), "ck2")
    assert actions[-1].prefix == "[WS] " and actions[-1].base["title"] == "Consultation"


def test_r15_a_reminder_change_is_applied():
    actions = plan(state(), ws(), UNREAD, Settings(prefix=PREFIX, reminder=1440))
    assert actions[0] == UpdateOutlook(frozenset({REMINDER}), "ck1") and actions[-1].reminder == 1440


def test_r15_conflicted_title_is_not_rewritten_for_the_prefix():
    conflict = merge.SyncConflict("title", "A", "B", "title", merge.USE_WEDSYNC)
    actions = plan(state(conflicts=(conflict,)), ws(version=4, title="A"), present(change_key="ck2", title="B"), SETTINGS)
    assert not any(isinstance(a, UpdateOutlook) for a in actions)


def test_no_base_every_difference_is_a_conflict():
    actions = plan(state(base=None), ws(version=1, location="A"), present(change_key="ck2", location="B"), SETTINGS)
    assert [c.field for c in actions[-1].conflicts] == ["location"]


# --------------------------------------------------------------------------- leaving the scope


@pytest.mark.parametrize("seen", [Seen.UNREAD, Seen.REMOVED, Seen.NOT_SEEN])
def test_removal_reads_the_copy_first(seen):
    assert plan_removal(state(), ws(), Outlook(seen), SETTINGS) == [ReadOutlookAgain()]


def test_removal_of_a_copy_already_gone_forgets_it():
    assert plan_removal(state(), ws(), DELETED, SETTINGS) == [Forget()]


def test_removal_keeps_an_unsynced_outlook_edit():
    """Issue 14 class 9: switching calendars reads the old copies before removing them."""
    actions = plan_removal(state(), ws(), present(change_key="ck2", location="Edited"), SETTINGS)
    assert actions == [ApplyToWedSync({"location": "Edited"}, 3), DeleteInOutlook("ck2"), Forget()]


def test_removal_of_an_unedited_copy():
    assert plan_removal(state(), ws(), present(), SETTINGS) == [DeleteInOutlook("ck1"), Forget()]


# --------------------------------------------------------------------------- disconnect with "remove"


def test_disconnect_takes_outlooks_edits_and_notes_a_conflict_it_can_no_longer_ask_about():
    actions = plan_disconnect_removal(state(), ws(version=4, location="The Walled Garden"),
                                      present(change_key="ck2", location="The Orangery", title="Consultation with Rosa"), SETTINGS)
    assert actions == [ApplyToWedSync({"title": "Consultation with Rosa"}, 4),
                       NoteOutlookVersion((merge.SyncConflict("location", "The Walled Garden", "The Orangery", "location", "manual_review"),)),
                       DeleteInOutlook("ck2"), Forget()]


def test_disconnect_notes_a_conflict_open_before_even_when_outlook_did_not_change_since():
    open_conflict = merge.SyncConflict("location", "The Walled Garden", "The Orangery", "location", "manual_review")
    actions = plan_disconnect_removal(state(conflicts=(open_conflict,)), ws(location="The Walled Garden"), present(location="The Orangery"), SETTINGS)
    assert actions == [NoteOutlookVersion((open_conflict,)), DeleteInOutlook("ck1"), Forget()]


def test_disconnect_notes_no_open_conflict_both_sides_now_agree_on():
    agreed = merge.SyncConflict("location", "The Walled Garden", "The Orangery", "location", "manual_review")
    actions = plan_disconnect_removal(state(conflicts=(agreed,)), ws(location="The Orangery"), present(location="The Orangery"), SETTINGS)
    assert actions == [DeleteInOutlook("ck1"), Forget()]


def test_disconnect_notes_no_open_wedsync_delete_conflict_of_an_event_live_again():
    """Its Outlook side is the whole event, not a field value: the event is live in WedSync and nothing is noted."""
    actions = plan_disconnect_removal(state(conflicts=(delete_conflict("wedsync"),)), ws(version=6), present(), SETTINGS)
    assert actions == [DeleteInOutlook("ck1"), Forget()]


@pytest.mark.parametrize(("wedsync", "settings"), [(ws(deleted=True), SETTINGS), (ws(location="The Walled Garden"), Settings(prefix=PREFIX, reminder=60, direction=Direction.TO_OUTLOOK))])
def test_disconnect_notes_nothing_for_a_deleted_event_or_one_way_to_outlook(wedsync, settings):
    open_conflict = merge.SyncConflict("location", "The Walled Garden", "The Orangery", "location", "manual_review")
    actions = plan_disconnect_removal(state(conflicts=(open_conflict,)), wedsync, present(change_key="ck2", location="The Orangery"), settings)
    assert actions == [DeleteInOutlook("ck2"), Forget()]


@pytest.mark.parametrize(("subject", "prefix", "title"), [
    ("WedSync: Tea", "WedSync: ", "Tea"),
    ("WedSync:Tea", "WedSync: ", "Tea"),  # Outlook trimmed the trailing space
    ("Tea", "WedSync: ", "Tea"),  # retyped without the prefix
    ("WedSync: Tea", "[WS] ", "WedSync: Tea"),  # another prefix is not ours to strip
    ("WedSync: Tea", "", "WedSync: Tea"),
])
def test_strip_applied_prefix(subject, prefix, title):
    assert strip_applied_prefix(subject, prefix) == title


# --------------------------------------------------------------------------- found by mutation testing (scripts/mutation.sh)


def test_force_to_outlook_writes_wedsync_values_and_remembers_them():
    actions = plan(state(), ws(version=5, location="WedSync place"), present(change_key="ck3", location="Outlook place"),
                   Settings(direction=Direction.TO_OUTLOOK, force=True))
    assert actions[-1].base["location"] == "WedSync place"
    assert not any(isinstance(a, ApplyToWedSync) for a in actions)


def test_one_way_leaves_attendees_alone_when_one_side_does_not_sync_them():
    base = {**BASE, "attendees": None}
    actions = plan(state(base=base), WedSync({**base, "attendees": ["a@example.com"]}, version=4), present(change_key="ck2"),
                   Settings(direction=Direction.TO_OUTLOOK))
    assert not any(isinstance(a, UpdateOutlook) and "attendees" in a.fields for a in actions)
    both = plan(state(base=base), WedSync({**base, "attendees": ["a@example.com"]}, version=4),
                Outlook(Seen.PRESENT, snapshot={**base, "title": PREFIX + BASE["title"], "attendees": ["b@example.com"]}, change_key="ck2", reminder=60),
                Settings(direction=Direction.TO_OUTLOOK))
    assert any(isinstance(a, UpdateOutlook) and "attendees" in a.fields for a in both)


def test_removal_of_a_copy_whose_wedsync_event_is_deleted_only_deletes():
    actions = plan_removal(state(), ws(version=4, deleted=True), present(change_key="ck2", location="Edited"), SETTINGS)
    assert actions == [DeleteInOutlook("ck2"), Forget()]


def test_removal_of_an_unchanged_copy_applies_nothing_even_with_a_base():
    assert plan_removal(state(), ws(version=4, location="WedSync edit"), present(change_key="ck1"), SETTINGS) == [DeleteInOutlook("ck1"), Forget()]


def test_removal_uses_the_stored_rule_of_the_event_type():
    settings = Settings(event_type="vendor_meeting", rules={"vendor_meeting:location": "outlook"})
    actions = plan_removal(state(), ws(version=4, location="WedSync edit"), present(change_key="ck2", location="Outlook edit"), settings)
    assert actions[0] == ApplyToWedSync({"location": "Outlook edit"}, 4)


def test_a_recreated_copy_remembers_the_reminder_and_prefix_in_force():
    actions = plan(state(needs_recreate=True), ws(version=4), UNREAD, Settings(prefix="[WS] ", reminder=1440))
    assert actions[1].prefix == "[WS] " and actions[1].reminder == 1440


def test_an_empty_outlook_subject_is_an_empty_title():
    outlook = Outlook(Seen.PRESENT, snapshot={**BASE, "title": ""}, change_key="ck2", reminder=60)
    actions = plan(state(), ws(), outlook, SETTINGS)
    assert ApplyToWedSync({"title": ""}, 3) in actions


def test_force_ignores_an_open_delete_conflict():
    actions = plan(state(conflicts=(delete_conflict("outlook"),)), ws(version=5), DELETED, Settings(direction=Direction.TO_OUTLOOK, force=True))
    assert actions[0] == CreateInOutlook(recreate=True)


def test_r0_keeps_the_other_open_conflicts_and_names_the_kind():
    other = merge.SyncConflict("location", "A", "B", "location", merge.MANUAL_REVIEW)
    outlook = Outlook(Seen.PRESENT, snapshot={**BASE, "title": PREFIX + BASE["title"]}, change_key="ck5", is_series=True)
    (action,) = plan(state(conflicts=(other,)), ws(version=3), outlook, SETTINGS)
    assert [c.field for c in action.conflicts] == ["location", "when"]
    assert action.conflicts[1].conflict_type == "date_time" and action.conflicts[1].suggested_resolution == merge.MANUAL_REVIEW


def test_an_agreed_open_conflict_does_not_hide_the_next_one():
    agreed = merge.SyncConflict("location", "X", "Outlook place", "location", merge.MANUAL_REVIEW)
    title = merge.SyncConflict("title", "WedSync title", "Outlook title", "title", merge.USE_WEDSYNC)
    actions = plan(state(conflicts=(agreed, title)), ws(version=5, location="Outlook place", title="WedSync title"), UNREAD, SETTINGS)
    (kept,) = actions[-1].conflicts
    assert kept == merge.SyncConflict("title", "WedSync title", "Outlook title", "title", merge.USE_WEDSYNC)


def test_a_prefix_change_rewrites_an_unread_copy_too():
    actions = plan(state(), ws(), UNREAD, Settings(prefix="[WS] ", reminder=60))
    assert actions[0] == UpdateOutlook(frozenset({"title"}), "ck1")
    assert actions[-1].prefix == "[WS] " and actions[-1].change_key is None


def test_from_outlook_writes_nothing_to_outlook_and_keeps_the_applied_prefix_and_reminder():
    actions = plan(state(), ws(), UNREAD, Settings(direction=Direction.FROM_OUTLOOK, prefix="[WS] ", reminder=1440))
    assert not any(isinstance(a, UpdateOutlook) for a in actions)
    assert actions[-1].prefix == PREFIX and actions[-1].reminder == 60


def test_an_unknown_reminder_is_recorded_as_the_one_in_force_without_a_write():
    actions = plan(state(reminder_known=False, reminder_applied=None), ws(), UNREAD, SETTINGS)
    assert not any(isinstance(a, UpdateOutlook) for a in actions)
    assert actions[-1].reminder == 60


def test_r0_replaces_an_open_when_conflict_instead_of_adding_a_second_one():
    old = merge.SyncConflict("when", BASE["when"], {"start": "2026-06-21T15:00:00Z", "end": "2026-06-21T16:00:00Z", "allDay": False},
                             "date_time", merge.MANUAL_REVIEW)
    outlook = Outlook(Seen.PRESENT, snapshot={**BASE, "title": PREFIX + BASE["title"]}, change_key="ck5", is_series=True)
    (action,) = plan(state(conflicts=(old,)), ws(version=3), outlook, SETTINGS)
    assert [(c.field, c.outlook_value) for c in action.conflicts] == [("when", {"recurring": True})]


def test_r9_the_conflict_is_typed_by_the_field_edited_in_outlook():
    (action,) = plan(state(), ws(version=4, deleted=True), present(change_key="ck2", location="Edited"), SETTINGS)
    assert action.conflicts[0].conflict_type == "location"


def test_r12_the_conflict_is_typed_by_the_field_edited_in_wedsync():
    (action,) = plan(state(), ws(version=4, location="Edited"), DELETED, SETTINGS)
    assert action.conflicts[0].conflict_type == "location"


def test_r4_the_refreshed_outlook_delete_conflict_keeps_its_kind_and_suggestion():
    stored = merge.SyncConflict("deleted", {**BASE, "location": "Edited"}, None, "location", merge.MANUAL_REVIEW)
    (action,) = plan(state(conflicts=(stored,)), ws(version=5, title="Later edit"), UNREAD, SETTINGS)
    (kept,) = action.conflicts
    assert (kept.conflict_type, kept.suggested_resolution) == ("location", merge.MANUAL_REVIEW)


def test_r4_a_wedsync_delete_conflict_is_kept_as_it_was_when_the_event_is_live_again():
    """The supplier restored the event in WedSync while the question "delete the Outlook copy?" is open."""
    conflicts = (delete_conflict("wedsync"),)
    assert plan(state(conflicts=conflicts), ws(version=6), UNREAD, SETTINGS) == [RecordConflict(conflicts)]


def test_r13_wedsync_values_that_differ_from_the_base_without_a_new_version_are_no_edit():
    """Only a WedSync edit since the last sync (its version moved, or the mapping is pending) can hold off Outlook's delete."""
    wedsync = ws(version=3, location="Normalised differently")
    assert plan(state(), wedsync, DELETED, SETTINGS) == [SoftDeleteInWedSync(3), Forget()]


def test_strip_applied_prefix_drops_every_space_outlook_left_after_a_trimmed_prefix():
    assert strip_applied_prefix("[WS] Tea", "[WS]  ") == "Tea"


def test_r15_an_empty_subject_matches_an_empty_prefix_and_title():
    outlook = Outlook(Seen.PRESENT, snapshot={**BASE, "title": ""}, change_key="ck1", reminder=60)
    actions = plan(state(base={**BASE, "title": ""}, prefix_applied=""), ws(title=""), outlook, Settings(prefix="", reminder=60))
    assert not any(isinstance(a, UpdateOutlook) for a in actions)


def test_r15_a_frozen_field_is_not_merged_even_after_an_agreed_or_rule_decided_conflict():
    """The title conflict stays frozen (nothing written) although WedSync still holds the base title; the
    location conflict before it was settled (both sides agree / a rule decides)."""
    title = merge.SyncConflict("title", "Consultation", "Outlook title", "title", merge.MANUAL_REVIEW)
    agreed = merge.SyncConflict("location", "X", "Outlook place", "location", merge.MANUAL_REVIEW)
    kept = (merge.SyncConflict("title", "Consultation", "Outlook title", "title", merge.MANUAL_REVIEW),)  # as stored, not re-merged
    actions = plan(state(conflicts=(agreed, title)), ws(version=5, location="Outlook place"), UNREAD, SETTINGS)
    assert not any(isinstance(a, ApplyToWedSync) for a in actions)
    assert actions[-1].conflicts == kept and actions[-1].base["title"] == "Consultation"
    ruled = merge.SyncConflict("location", "WedSync place", "Outlook place", "location", merge.MANUAL_REVIEW)
    settings = Settings(rules={"client_meeting:location": "outlook"})
    actions = plan(state(conflicts=(ruled, title)), ws(version=5, location="WedSync place"), UNREAD, settings)
    assert actions[0] == ApplyToWedSync({"location": "Outlook place"}, 5)
    assert actions[-1].conflicts == kept and actions[-1].base["title"] == "Consultation"


@pytest.mark.parametrize("field", ["location", "description"])
def test_r15_a_stored_rule_decides_even_when_wedsync_still_holds_the_base_value(field):
    """Both sides were edited when the conflict opened: the rule picks WedSync's value, not the base comparison."""
    conflict = merge.SyncConflict(field, "Edited then reverted", "Outlook value", field, merge.MANUAL_REVIEW)
    settings = Settings(rules={f"client_meeting:{field}": "wedsync"})
    actions = plan(state(conflicts=(conflict,)), ws(version=5), UNREAD, settings)
    assert actions[0] == UpdateOutlook(frozenset({field}), "ck1")
    assert not any(isinstance(a, ApplyToWedSync) for a in actions) and actions[-1].base[field] == BASE[field]


def test_removal_in_to_outlook_direction_never_takes_outlook_edits():
    actions = plan_removal(state(), ws(version=4), present(change_key="ck2", location="Edited"), Settings(direction=Direction.TO_OUTLOOK))
    assert actions == [DeleteInOutlook("ck2"), Forget()]


# --- leaving the scope (rows L1-L4 of the module docstring) ---


@pytest.mark.parametrize("travel", [False, True])
@pytest.mark.parametrize("direction", list(Direction))
def test_l1_a_copy_already_gone_is_forgotten(travel, direction):
    assert plan_leaving_scope(state(travel=travel), ws(), DELETED, Settings(direction=direction)) == [Forget()]


@pytest.mark.parametrize("travel", [False, True])
@pytest.mark.parametrize("outlook", [UNREAD, "edited"])
def test_l2_from_outlook_only_forgets_and_never_writes_outlook(travel, outlook):
    outlook = present(change_key="ck2", location="Edited") if outlook == "edited" else outlook
    assert plan_leaving_scope(state(travel=travel), ws(), outlook, Settings(direction=Direction.FROM_OUTLOOK)) == [Forget()]


@pytest.mark.parametrize("direction", [Direction.BIDIRECTIONAL, Direction.TO_OUTLOOK])
@pytest.mark.parametrize("change_key", [None, "ck1"])
def test_l3_a_travel_block_is_deleted_whatever_its_change_key(direction, change_key):
    """WedSync's alone: no read first, no If-Match (nothing of the supplier's to keep), even when the stored key is known."""
    actions = plan_leaving_scope(state(travel=True, change_key=change_key), ws(), UNREAD, Settings(direction=direction))
    assert actions == [DeleteInOutlook(None), Forget()]


@pytest.mark.parametrize("direction", [Direction.BIDIRECTIONAL, Direction.TO_OUTLOOK])
def test_l4_an_events_copy_is_read_then_deleted_with_if_match(direction):
    settings = Settings(direction=direction)
    assert plan_leaving_scope(state(), ws(), UNREAD, settings) == [ReadOutlookAgain()]
    assert plan_leaving_scope(state(), ws(), present(change_key="ck2"), settings) == [DeleteInOutlook("ck2"), Forget()]


def test_l4_keeps_an_unsynced_outlook_edit_like_plan_removal():
    outlook = present(change_key="ck2", location="Edited")
    assert plan_leaving_scope(state(), ws(), outlook, SETTINGS) == plan_removal(state(), ws(), outlook, SETTINGS)
    assert isinstance(plan_leaving_scope(state(), ws(), outlook, SETTINGS)[0], ApplyToWedSync)
