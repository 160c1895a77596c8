//! The IMAPS servers of the main Italian PEC providers, by the domain of their users'
//! addresses, from their public client-configuration guides: used when neither the user nor
//! the operator names the old server. A domain of the provider's customers (not in this
//! table) needs the operator's `[[migration.domain]]` or the page's server field.

use super::Server;

/// (address domain, IMAPS host): Aruba PEC (guide.pec.it), InfoCert Legalmail
/// (help.infocert.it), Namirial (sicurezzapostale.it).
const PROVIDERS: &[(&str, &str)] = &[
    ("pec.it", "imaps.pec.aruba.it"),
    ("arubapec.it", "imaps.pec.aruba.it"),
    ("legalmail.it", "mbox.cert.legalmail.it"),
    ("sicurezzapostale.it", "imaps.sicurezzapostale.it"),
];

/// The server of a provider's own address domain.
pub(super) fn server_of(domain: &str) -> Option<Server> {
    PROVIDERS
        .iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        .map(|(_, host)| Server {
            host: (*host).to_string(),
            port: 993,
        })
}
