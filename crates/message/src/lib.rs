//! Message structure.
