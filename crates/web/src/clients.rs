//! "Configura il tuo programma di posta" (issue 18 item 8; seed 002 §3): the parameters of
//! this provider for mail clients, and the files clients fetch by themselves — Thunderbird's
//! autoconfig (`/.well-known/autoconfig/mail/config-v1.1.xml`, and `/mail/config-v1.1.xml`
//! for the `autoconfig.DOMAIN` form), Outlook's autodiscover (POX, `POST
//! /autodiscover/autodiscover.xml`) and an Apple configuration profile for the logged-in
//! box. Hosts and ports are the `[listen]` ones: what the page says is what the servers do.

use crate::mailbox::{frame, Frame};
use crate::session::Authed;
use crate::settings::{nav, Nav, Section};
use crate::{on_mailbox, page, AppState, Lang, WebError};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Where mail clients reach this provider: the host name clients connect to and the ports
/// of `[listen]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEndpoints {
    pub host: String,
    pub imaps: u16,
    pub pop3s: u16,
    /// SMTP submission over TLS (RFC 8314), the seed's SMTPS.
    pub submissions: u16,
    /// SMTP submission with STARTTLS.
    pub submission: u16,
}

/// An autodiscover request is a few hundred bytes of XML.
pub const MAX_AUTODISCOVER_BODY: usize = 4 * 1024;

/// XML character data.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An address as a client may send it: one `@`, printable, not too long; anything else is
/// not echoed back.
fn address(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() <= 254
        && s.rsplit_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !"<>&\"'".contains(c));
    ok.then(|| s.to_ascii_lowercase())
}

/// Thunderbird's autoconfig (the Mozilla ISP database format, version 1.1).
fn autoconfig(e: &ClientEndpoints, provider: &str, domains: &[String]) -> String {
    let first = domains.first().map_or(e.host.as_str(), String::as_str);
    let domain_lines: String = domains
        .iter()
        .map(|d| format!("    <domain>{}</domain>\n", xml(d)))
        .collect();
    let (host, name) = (xml(&e.host), xml(provider));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{id}">
{domain_lines}    <displayName>{name}</displayName>
    <displayShortName>{name}</displayShortName>
    <incomingServer type="imap">
      <hostname>{host}</hostname>
      <port>{imaps}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>{host}</hostname>
      <port>{pop3s}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
      <pop3>
        <leaveMessagesOnServer>true</leaveMessagesOnServer>
      </pop3>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{submissions}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{submission}</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#,
        id = xml(first),
        imaps = e.imaps,
        pop3s = e.pop3s,
        submissions = e.submissions,
        submission = e.submission,
    )
}

/// The domains this provider serves, for the autoconfig file.
async fn domains(st: &AppState) -> Result<Vec<String>, WebError> {
    let p = st.p.clone();
    services::blocking(move || p.store.domains())
        .await
        .ok_or_else(|| WebError::Internal("autoconfig: the task did not finish".into()))?
        .map_err(|e| WebError::Unavailable(e.to_string()))
}

/// GET `/.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`.
pub async fn thunderbird(State(st): State<AppState>) -> Result<Response, WebError> {
    let domains = domains(&st).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        autoconfig(&st.clients, &st.p.identity.name, &domains),
    )
        .into_response())
}

/// Outlook's POX autodiscover answer for `address`.
fn autodiscover_xml(e: &ClientEndpoints, address: &str) -> String {
    let (host, login) = (xml(&e.host), xml(address));
    let protocol = |kind: &str, port: u16| {
        format!(
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        \
             <Port>{port}</Port>\n        <DomainRequired>off</DomainRequired>\n        \
             <LoginName>{login}</LoginName>\n        <SPA>off</SPA>\n        <SSL>on</SSL>\n        \
             <AuthRequired>on</AuthRequired>\n      </Protocol>\n"
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
{imap}{pop}{smtp}    </Account>
  </Response>
</Autodiscover>
"#,
        imap = protocol("IMAP", e.imaps),
        pop = protocol("POP3", e.pop3s),
        smtp = protocol("SMTP", e.submissions),
    )
}

/// POST `/autodiscover/autodiscover.xml` (Outlook): the request names the address in
/// `<EMailAddress>`; only that element is read, as text.
pub async fn outlook(State(st): State<AppState>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let given = text
        .split_once("<EMailAddress>")
        .and_then(|(_, rest)| rest.split_once("</EMailAddress>"))
        .and_then(|(a, _)| address(a));
    match given {
        Some(a) => (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            autodiscover_xml(&st.clients, &a),
        )
            .into_response(),
        None => (
            axum::http::StatusCode::BAD_REQUEST,
            "richiesta autodiscover senza un indirizzo valido",
        )
            .into_response(),
    }
}

/// A stable UUID from a name (so downloading the profile again replaces it).
fn uuid_of(name: &str) -> String {
    let h = openssl::sha::sha256(name.as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// An Apple configuration profile with the box's IMAP and SMTP accounts.
fn mobileconfig(e: &ClientEndpoints, provider: &str, address: &str, login: &str) -> String {
    let (host, addr, user, name) = (xml(&e.host), xml(address), xml(login), xml(provider));
    let account_id = uuid_of(&format!("certa-mail:{}:{login}", e.host));
    let profile_id = uuid_of(&format!("certa-profile:{}:{login}", e.host));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>PEC {addr}</string>
      <key>EmailAccountName</key><string>{addr}</string>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAddress</key><string>{addr}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>{host}</string>
      <key>IncomingMailServerPortNumber</key><integer>{imaps}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>{user}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>{host}</string>
      <key>OutgoingMailServerPortNumber</key><integer>{submissions}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>{user}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadDescription</key><string>Casella PEC {addr}</string>
      <key>PayloadDisplayName</key><string>PEC {addr}</string>
      <key>PayloadIdentifier</key><string>it.certa.mail.{account_id}</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>{account_id}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDescription</key><string>Posta elettronica certificata presso {name}</string>
  <key>PayloadDisplayName</key><string>{name}: {addr}</string>
  <key>PayloadIdentifier</key><string>it.certa.profile.{profile_id}</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{profile_id}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        imaps = e.imaps,
        submissions = e.submissions,
    )
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    fr: Frame,
    l: Lang,
    nav: Nav,
    e: ClientEndpoints,
    /// The login the client uses: the address, or `user/box` for a collaborator.
    login: String,
    /// A *Solo invio* collaborator reads nothing: only SMTP is shown.
    reads: bool,
}

#[derive(Deserialize, Default)]
pub struct ClientsQuery {
    /// `mobileconfig`: the Apple profile instead of the page.
    #[serde(default)]
    formato: String,
}

/// GET `/settings/client`: the page, or with `?formato=mobileconfig` the Apple profile.
pub async fn page_handler(
    State(st): State<AppState>,
    Authed(s): Authed,
    Query(q): Query<ClientsQuery>,
) -> Result<Response, WebError> {
    let e = st.clients.as_ref().clone();
    let provider = st.p.identity.name.clone();
    on_mailbox(&st.p, &s.clone(), move |m| {
        let who = m.principal();
        let reads = who.require(services::principal::Permission::Read).is_ok();
        if q.formato == "mobileconfig" {
            return Ok((
                [
                    (header::CONTENT_TYPE, "application/x-apple-aspen-config"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"certa-pec.mobileconfig\"",
                    ),
                ],
                mobileconfig(&e, &provider, &who.address, &who.login),
            )
                .into_response());
        }
        let fr = frame(m, &s);
        Ok(page(&ClientsPage {
            nav: nav(&fr, s.lang, Section::Clients),
            fr,
            l: s.lang,
            login: who.login.clone(),
            reads,
            e,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> ClientEndpoints {
        ClientEndpoints {
            host: "mail.pec.example.it".into(),
            imaps: 993,
            pop3s: 995,
            submissions: 465,
            submission: 587,
        }
    }

    #[test]
    fn addresses_are_echoed_only_when_harmless() {
        assert_eq!(
            address(" Mario@Pec.Example.it "),
            Some("mario@pec.example.it".into())
        );
        for bad in [
            "",
            "senza-chiocciola",
            "a@b",
            "<script>@x.it",
            "a b@x.it",
            "a\"@x.it",
        ] {
            assert_eq!(address(bad), None, "{bad}");
        }
        let long = format!("{}@x.it", "a".repeat(260));
        assert_eq!(address(&long), None);
    }

    #[test]
    fn the_files_carry_the_listen_ports_and_escape_what_they_echo() {
        let e = endpoints();
        let a = autoconfig(&e, "Certa & co", &["pec.example.it".into()]);
        assert!(a.contains("<port>993</port>") && a.contains("<port>465</port>"));
        assert!(a.contains("Certa &amp; co"));
        let d = autodiscover_xml(&e, "mario@pec.example.it");
        assert_eq!(d.matches("<SSL>on</SSL>").count(), 3);
        let m = mobileconfig(
            &e,
            "Certa",
            "box@pec.example.it",
            "mario/box@pec.example.it",
        );
        assert!(m.contains("<string>mario/box@pec.example.it</string>"));
        assert_eq!(uuid_of("x"), uuid_of("x"));
        assert_ne!(uuid_of("x"), uuid_of("y"));
    }
}
