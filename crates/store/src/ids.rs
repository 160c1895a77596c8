//! Typed ids: a mailbox's id cannot be passed where a folder's is meant. Each is the
//! database's integer key; the SQLite backend binds and reads them directly.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::Serialize;
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}

id!(
    /// A mailbox (one PEC box and its account).
    MailboxId
);
id!(
    /// A folder of a mailbox.
    FolderId
);
id!(
    /// An item of the delivery queue.
    QueueId
);
id!(
    /// A copy from an old provider's box into one of ours.
    MigrationJobId
);
id!(
    /// A folder of the old box, as a copy knows it.
    MigrationFolderId
);
id!(
    /// An SMS in the outbox (daily reports by SMS, issue 18).
    SmsId
);
