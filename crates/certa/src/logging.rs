//! The process's one subscriber: every crate only emits `tracing` events and spans; `certa
//! serve` decides here where they go (standard error), at which level (`[log] level`, or
//! the `CERTA_LOG` environment variable, which wins) and in which format (`[log] format`:
//! human lines, or one JSON object per line carrying its spans' fields).

use crate::config::{Log, LogFormat};
use anyhow::Context;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The environment variable that overrides `[log] level`.
pub const ENV: &str = "CERTA_LOG";

pub fn init(cfg: &Log) -> anyhow::Result<()> {
    let (spec, from) = match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => (v, ENV),
        _ => (cfg.level.clone(), "[log] level"),
    };
    let filter = EnvFilter::try_new(&spec)
        .with_context(|| format!("{from} = {spec:?} is not a log level or filter"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let set = match cfg.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    set.map_err(|e| anyhow::anyhow!("log subscriber: {e}"))
}
