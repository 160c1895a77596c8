//! Quota warnings (issue 18 item 5; seed 002 §2.1, W4): when a box's used space crosses 70 %
//! and then 90 % of its quota, a message in its INBOX and one to its recovery address, once
//! per crossing — a box that falls back below a level is warned again when it crosses it
//! anew. A PEC counts as received when it lands in the box, read or not: a holder must know
//! in time that the box is filling. The last level warned is kept as the box's
//! `avviso-quota` setting; the check runs after each delivery into the box.

use crate::delivery::{self, Stored};
use crate::provider::Provider;
use store::{StoreError, INBOX};

/// The growth a forecast goes by: the bytes received in this many days.
pub const FORECAST_DAYS: i64 = 28;

/// In how many days a box using `used` of `quota` is full, at the pace of `recent` bytes in
/// the last [`FORECAST_DAYS`]; `None` without growth (or without a quota).
pub fn days_to_full(used: i64, quota: i64, recent: i64) -> Option<i64> {
    if quota <= 0 || recent <= 0 {
        return None;
    }
    let left = quota.saturating_sub(used).max(0);
    // left / (recent / FORECAST_DAYS), rounded up: "circa N giorni", at least 1.
    let days = left
        .saturating_mul(FORECAST_DAYS)
        .saturating_add(recent - 1)
        / recent;
    Some(days.max(1))
}

/// The forecast beside the quota bar is shown from this share of the quota up.
pub const FORECAST_FROM_PCT: i64 = 50;
/// The growth behind it (`AT:BYTES`), measured at most once a day per box.
const GROWTH_SETTING: &str = "crescita-quota";

impl crate::mailbox::Access {
    /// In how many days the box is full at the pace of the last [`FORECAST_DAYS`], for the
    /// quota bar ("piena in circa N giorni"): only from [`FORECAST_FROM_PCT`] up, and only
    /// with growth. The growth is measured at most once a day (a scan of the box's recent
    /// messages), kept as the box's setting. `(used, quota)` as [`Access::quota`] read them
    /// (the page has them already: not read twice).
    ///
    /// [`Access::quota`]: crate::mailbox::Access::quota
    pub fn quota_forecast(
        &self,
        (used, quota): (i64, i64),
    ) -> Result<Option<i64>, crate::mailbox::MailboxError> {
        if quota <= 0 || used.saturating_mul(100) / quota < FORECAST_FROM_PCT {
            return Ok(None);
        }
        let p = self.provider();
        let id = self.principal().mailbox;
        let now = p.now();
        let kept = p.store.setting(id, GROWTH_SETTING)?.and_then(|v| {
            let (at, bytes) = v.split_once(':')?;
            Some((at.parse::<i64>().ok()?, bytes.parse::<i64>().ok()?))
        });
        let recent = match kept {
            Some((at, bytes)) if (0..86_400).contains(&(now - at)) => bytes,
            _ => {
                let bytes = p.store.bytes_since(id, now - FORECAST_DAYS * 86_400)?;
                p.store
                    .set_setting(id, GROWTH_SETTING, &format!("{now}:{bytes}"))?;
                bytes
            }
        };
        Ok(days_to_full(used, quota, recent))
    }
}

/// The levels warned of, in percent of the quota.
pub const LEVELS: [i64; 2] = [70, 90];
const SETTING: &str = "avviso-quota";

/// The highest level `used` reaches, 0 below the first.
fn level(used: i64, quota: i64) -> i64 {
    if quota <= 0 {
        return 0;
    }
    let pct = used.saturating_mul(100) / quota;
    LEVELS
        .iter()
        .rev()
        .copied()
        .find(|l| pct >= *l)
        .unwrap_or(0)
}

/// Checks the box after a change of its usage; warns on an upward crossing. Returns the
/// level warned of, if any.
pub fn check(p: &Provider, address: &str) -> Result<Option<i64>, StoreError> {
    let Some(m) = p.store.mailbox(address)? else {
        return Ok(None);
    };
    let now_level = level(m.used, m.quota);
    let warned: i64 = p
        .store
        .setting(m.id, SETTING)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if now_level == warned {
        return Ok(None);
    }
    // Below the level warned of: armed again for the next crossing.
    p.store.set_setting(m.id, SETTING, &now_level.to_string())?;
    if now_level < warned {
        return Ok(None);
    }
    let now = p.now();
    let pct = m.used.saturating_mul(100) / m.quota.max(1);
    let recent = p.store.bytes_since(m.id, now - FORECAST_DAYS * 86_400)?;
    let forecast = days_to_full(m.used, m.quota, recent).map_or(String::new(), |d| {
        format!(
            " Al ritmo attuale la casella sarà piena in circa {d} {}.",
            if d == 1 { "giorno" } else { "giorni" }
        )
    });
    let subject = format!("Avviso: spazio della casella PEC al {pct}%");
    let body = format!(
        "Gentile utente,\r\n\r\nla casella di posta certificata {address} ha occupato il {pct}% \
         dello spazio disponibile ({} MB di {} MB).{forecast} Quando sarà piena, i messaggi PEC a lei \
         indirizzati non potranno esserle consegnati e i mittenti riceveranno un avviso di \
         mancata consegna.\r\n\r\nElimini i messaggi che non le servono più, dopo averli \
         scaricati se desidera conservarli, oppure chieda al gestore più spazio.\r\n\r\n{}\r\n",
        m.used / (1 << 20),
        m.quota / (1 << 20),
        p.identity.name
    );
    let bytes = crate::onboarding::plain_mail(&p.identity, address, &subject, &body, now);
    let warning = Stored::put(p, bytes, None)?;
    // In the box even when it is full: the warning is not mail for the quota to refuse.
    p.store
        .write(|db| delivery::append(db, address, INBOX, &warning, now, false).map(drop))?;
    if let Some(recovery) = &m.recovery_email {
        crate::onboarding::queue_plain_mail(
            &*p.store,
            &p.identity,
            recovery,
            &subject,
            &body,
            now,
        )?;
    }
    tracing::info!(mailbox = %address, level = now_level, "quota warning sent");
    Ok(Some(now_level))
}

#[cfg(test)]
mod tests {
    use super::{days_to_full, level};

    #[test]
    fn the_forecast_goes_by_the_recent_pace() {
        // 280 bytes in 28 days: 10 a day; 100 left: 10 days.
        assert_eq!(days_to_full(900, 1000, 280), Some(10));
        assert_eq!(
            days_to_full(999, 1000, 280 * 100),
            Some(1),
            "at least a day"
        );
        assert_eq!(days_to_full(1200, 1000, 280), Some(1), "already full");
        assert_eq!(days_to_full(500, 1000, 0), None, "no growth, no forecast");
        assert_eq!(days_to_full(500, 0, 10), None);
        assert_eq!(
            days_to_full(0, i64::MAX, 2),
            Some(i64::MAX / 2),
            "no overflow"
        );
    }

    #[test]
    fn levels_are_the_highest_reached() {
        assert_eq!(level(0, 100), 0);
        assert_eq!(level(69, 100), 0);
        assert_eq!(level(70, 100), 70);
        assert_eq!(level(89, 100), 70);
        assert_eq!(level(90, 100), 90);
        assert_eq!(level(150, 100), 90);
        assert_eq!(level(10, 0), 0, "no quota, no warning");
        assert_eq!(level(i64::MAX, 1), 90, "no overflow");
    }
}
