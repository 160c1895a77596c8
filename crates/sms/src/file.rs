//! The file adapter, for development and tests: each SMS appended to a file as one JSON
//! line (`{"at":…,"to":…,"sender":…,"text":…}`), the file readable by its owner only.

use crate::{Outgoing, SmsError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// `[sms.file]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub path: PathBuf,
}

pub(crate) struct FileGateway {
    path: PathBuf,
}

impl FileGateway {
    pub fn new(cfg: FileConfig) -> FileGateway {
        FileGateway { path: cfg.path }
    }

    pub async fn send(&self, sms: &Outgoing<'_>) -> Result<(), SmsError> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut line = serde_json::json!({
            "at": at,
            "to": sms.to,
            "sender": sms.sender,
            "text": sms.text,
        })
        .to_string();
        line.push('\n');
        let failed =
            |e: std::io::Error| SmsError::Unreachable(format!("{}: {e}", self.path.display()));
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .await
            .map_err(failed)?;
        f.write_all(line.as_bytes()).await.map_err(failed)?;
        f.sync_data().await.map_err(failed)
    }
}
