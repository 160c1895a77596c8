//! The store conformance suite (`store::conformance`) on SQLite: one test per check, each on
//! a fresh store in its own directory. A new backend copies this file and changes `fresh`.

use store::{SqliteStore, Store};

/// A fresh, empty store, and the directory that must outlive it.
fn fresh() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open");
    (dir, Box::new(store))
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let (_dir, s) = fresh();
                store::conformance::$check(&*s);
            }
        )*

        /// Every check of the suite has its test here, and no test runs a check twice.
        #[test]
        fn every_check_is_run() {
            let here = [$(stringify!($check)),*];
            let suite: Vec<&str> = store::conformance::CHECKS.iter().map(|(name, _)| *name).collect();
            assert_eq!(here.to_vec(), suite);
        }
    };
}

conformance![
    domains_are_unique_and_case_insensitive,
    mailboxes_start_with_the_special_folders,
    mailbox_changes_and_deletion,
    settings_are_per_mailbox,
    web_sessions_start_touch_expire_and_end,
    operators_sessions_and_totp_steps,
    collaborations_invite_accept_revoke,
    routes_and_provider_index,
    watchers_wake_after_a_change_to_their_mailbox,
    folders_create_rename_delete_and_subscribe,
    renaming_inbox_moves_its_messages,
    uidvalidity_is_stable_and_changes_for_a_new_folder,
    uids_increase_and_are_never_reused,
    modseq_increases_with_every_change,
    changes_since_names_exactly_what_changed,
    copy_keeps_flags_and_gives_new_uids,
    move_removes_from_the_source,
    expunge_of_unknown_uids_is_harmless,
    folder_counts_follow_every_change,
    recent_is_claimed_once,
    flags_add_remove_and_replace,
    unchanged_since_leaves_newer_messages_alone,
    usage_counts_appends_and_copies,
    quota_follows_expunge_move_and_folder_deletion,
    a_failed_write_keeps_nothing,
    lists_pages_and_contents,
    text_index_finds_substrings_and_names_the_unindexed,
    blobs_round_trip_by_content_name,
    released_blobs_are_collected_after_the_grace,
    queue_claims_by_kind_and_destination,
    queue_claims_several_at_once,
    queue_lease_hides_an_item_until_it_expires,
    queue_retry_waits_for_the_next_attempt,
    queue_parks_poison_and_unparks,
    queue_release_and_dequeue,
    pec_transactions_and_recipient_states,
    notices_and_pending_transactions,
    incoming_claims_are_taken_once,
    legal_log_chain_and_records,
    legal_log_retention_keeps_the_chain,
    quarantine_and_its_retention,
    migration_jobs_start_claim_and_resume,
    migration_items_commit_with_their_messages,
    kept_uids_and_uidvalidity,
    a_domain_in_migration_switches_once,
    plans_profiles_and_reminders,
    daily_reports_and_the_sms_outbox,
];
