//! Every statement of the SQLite backend through the connection's statement cache: parsed
//! and planned once per connection, not at each call (issue 14: re-preparing was 8 % of the
//! pipeline's time).

use rusqlite::{Connection, Params, Row};

/// How many prepared statements each connection keeps (the backend has fewer distinct ones).
pub(crate) const CAPACITY: usize = 256;

/// `execute` and `query_row` with cached statements.
pub(crate) trait Cached {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
