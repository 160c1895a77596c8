//! The store conformance suite: checks written once against [`Store`] and [`Tx`] that every
//! backend must pass. Each check takes a fresh, empty store and panics (with what differed)
//! when the backend breaks the contract, so a backend's test file is one `#[test]` per
//! entry of [`CHECKS`] (see `crates/store/tests/conformance.rs` for SQLite).
//!
//! Only the traits are used here: no SQL, no file layout, no reopening. What is private to
//! a backend (inline small blobs, blob files' times, crash behaviour, a hand-edited log)
//! stays in that backend's own tests. Every check proves the happy path before it tries a
//! refusal, so a refusal that passes cannot be a backend that refuses everything.

mod accounts;
mod blobs;
mod messages;
mod migration;
mod pec;
mod queue;
mod reports;

use crate::prelude::*;
use crate::{
    DeliveryState, FolderId, MailboxId, MessageMeta, NewMailbox, NewMessage, QueueKind, StoreError,
    Unix, INBOX,
};
use ::pec::RecipientKind;

// ---- the kinds and states the checks use, in one place ---------------------------------

/// Queue kinds (`Tx::enqueue`, `QueueClaim::kinds`).
const RELAY: QueueKind = QueueKind::Relay;
const DELIVER: QueueKind = QueueKind::Deliver;
/// Kinds of PEC recipients (`RecipientState::kind`).
const CERTIFIED: RecipientKind = RecipientKind::Certificato;
const EXTERNAL: RecipientKind = RecipientKind::Esterno;
/// States of PEC recipients (`RecipientState::state`, `Tx::update_recipient`).
const ACCEPTED: DeliveryState = DeliveryState::Accepted;
const TAKEN_IN_CHARGE: DeliveryState = DeliveryState::TakenInCharge;
const DELIVERED: DeliveryState = DeliveryState::Delivered;
const FAILED: DeliveryState = DeliveryState::Failed;
const SENT_ORDINARY: DeliveryState = DeliveryState::SentOrdinary;
/// What `Tx::claim_incoming` records.
const ENVELOPE: &str = "busta";

// ---- error kinds: one place to adapt when `StoreError` changes ---------------------------

fn is_over_quota<T: std::fmt::Debug>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(StoreError::OverQuota(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn is_exists<T: std::fmt::Debug>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(StoreError::Exists(_)))
}

fn is_refused<T: std::fmt::Debug>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(StoreError::Refused(_)))
}

// ---- fixtures ------------------------------------------------------------------------------

const DOMAIN: &str = "pec.test";
const ALICE: &str = "alice@pec.test";
const BOB: &str = "bob@pec.test";
/// A quota no check reaches unless it means to.
const LARGE_QUOTA: i64 = 1 << 40;

/// Adds the domain (once) and a mailbox with `quota`; returns its id.
fn mailbox(s: &dyn Store, address: &str, quota: i64) -> MailboxId {
    if !s.is_local_domain(DOMAIN).expect("is_local_domain") {
        s.add_domain(DOMAIN, 0).expect("add_domain");
    }
    let m = NewMailbox {
        address,
        password_hash: "hash",
        quota,
        recovery_email: None,
        must_change_password: false,
    };
    s.add_mailbox(&m, 0).expect("add_mailbox")
}

fn folder_id(s: &dyn Store, mailbox_id: MailboxId, name: &str) -> FolderId {
    s.folder_head(mailbox_id, name)
        .expect("folder_head")
        .unwrap_or_else(|| panic!("folder {name} missing"))
        .id
}

fn folder(s: &dyn Store, mailbox_id: MailboxId, name: &str) -> crate::Folder {
    s.folder(mailbox_id, name)
        .expect("folder")
        .unwrap_or_else(|| panic!("folder {name} missing"))
}

/// Appends `bytes` (their blob stored first) with `meta`; the size is the bytes' length.
fn append_meta(
    s: &dyn Store,
    address: &str,
    folder: &str,
    bytes: &[u8],
    meta: &MessageMeta,
) -> i64 {
    let blob = s.put_blob(bytes).expect("put_blob");
    let m = NewMessage {
        blob: &blob,
        size: bytes.len() as i64,
        meta,
    };
    s.write(|tx| tx.append(address, folder, &m, 1_000))
        .expect("append")
}

/// Appends `bytes` with `flags` (space-separated).
fn append(s: &dyn Store, address: &str, folder: &str, bytes: &[u8], flags: &str) -> i64 {
    let meta = MessageMeta {
        flags: flags.to_string(),
        ..MessageMeta::default()
    };
    append_meta(s, address, folder, bytes, &meta)
}

/// Copies (or moves) in a transaction of its own.
fn copy(
    s: &dyn Store,
    from: FolderId,
    uids: &[i64],
    to: FolderId,
    remove: bool,
) -> crate::Result<Vec<(i64, i64)>> {
    s.write(|tx| tx.copy_messages(from, uids, to, remove))
}

fn uids(s: &dyn Store, folder_id: FolderId) -> Vec<i64> {
    s.messages(folder_id)
        .expect("messages")
        .into_iter()
        .map(|m| m.uid)
        .collect()
}

fn usage(s: &dyn Store, address: &str) -> crate::Usage {
    s.write(|tx| tx.usage(address)).expect("usage")
}

fn used(s: &dyn Store, address: &str) -> i64 {
    s.mailbox(address)
        .expect("mailbox")
        .unwrap_or_else(|| panic!("mailbox {address} missing"))
        .used
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Appends a legal-log record in its own transaction.
fn log_at(s: &dyn Store, time: Unix, msgid: &str, related: &[String]) {
    s.write(|tx| {
        tx.log_append(&crate::LogRecord {
            time,
            event: "accettazione",
            msgid,
            sender: ALICE,
            recipients: &[BOB.to_string()],
            subject: "oggetto",
            related,
            provider: "Certa",
            actor: "",
        })
    })
    .expect("log_append");
}

/// Declares the checks: each is re-exported here and listed in [`CHECKS`] by name.
macro_rules! checks {
    ($($module:ident :: $check:ident),* $(,)?) => {
        $(pub use $module::$check;)*
        /// Every check of the suite, by name: a backend's test file runs each of them.
        pub const CHECKS: &[(&str, fn(&dyn Store))] =
            &[$((stringify!($check), $module::$check as fn(&dyn Store))),*];
    };
}

checks![
    accounts::domains_are_unique_and_case_insensitive,
    accounts::mailboxes_start_with_the_special_folders,
    accounts::mailbox_changes_and_deletion,
    accounts::settings_are_per_mailbox,
    accounts::web_sessions_start_touch_expire_and_end,
    accounts::operators_sessions_and_totp_steps,
    accounts::collaborations_invite_accept_revoke,
    accounts::routes_and_provider_index,
    accounts::watchers_wake_after_a_change_to_their_mailbox,
    messages::folders_create_rename_delete_and_subscribe,
    messages::renaming_inbox_moves_its_messages,
    messages::uidvalidity_is_stable_and_changes_for_a_new_folder,
    messages::uids_increase_and_are_never_reused,
    messages::modseq_increases_with_every_change,
    messages::changes_since_names_exactly_what_changed,
    messages::copy_keeps_flags_and_gives_new_uids,
    messages::move_removes_from_the_source,
    messages::expunge_of_unknown_uids_is_harmless,
    messages::folder_counts_follow_every_change,
    messages::recent_is_claimed_once,
    messages::flags_add_remove_and_replace,
    messages::unchanged_since_leaves_newer_messages_alone,
    messages::usage_counts_appends_and_copies,
    messages::quota_follows_expunge_move_and_folder_deletion,
    messages::a_failed_write_keeps_nothing,
    messages::lists_pages_and_contents,
    messages::text_index_finds_substrings_and_names_the_unindexed,
    blobs::blobs_round_trip_by_content_name,
    blobs::released_blobs_are_collected_after_the_grace,
    queue::queue_claims_by_kind_and_destination,
    queue::queue_claims_several_at_once,
    queue::queue_lease_hides_an_item_until_it_expires,
    queue::queue_retry_waits_for_the_next_attempt,
    queue::queue_parks_poison_and_unparks,
    queue::queue_release_and_dequeue,
    pec::pec_transactions_and_recipient_states,
    pec::notices_and_pending_transactions,
    pec::incoming_claims_are_taken_once,
    pec::legal_log_chain_and_records,
    pec::legal_log_retention_keeps_the_chain,
    pec::quarantine_and_its_retention,
    migration::migration_jobs_start_claim_and_resume,
    migration::migration_items_commit_with_their_messages,
    migration::kept_uids_and_uidvalidity,
    migration::a_domain_in_migration_switches_once,
    accounts::plans_profiles_and_reminders,
    reports::daily_reports_and_the_sms_outbox,
];
