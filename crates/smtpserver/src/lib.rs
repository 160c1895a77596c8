//! Certa's SMTP servers: the two [`smtp::server::Handler`]s that put an SMTP session on the
//! services. [`Inbound`] is the MX, where other providers and the Internet deliver (the
//! incoming point, RFC 6109 §3.2); [`Submission`] is where our users send (the access point,
//! §3.1), after a login. The session itself (commands, limits, TLS) is `smtp`'s; what each
//! outcome of the services answers on the wire is [`replies`]'.

pub mod replies;

use services::principal::Principal;
use services::Provider;
use smtp::server::{Envelope, Handler};
use smtp::Reply;
use std::net::SocketAddr;
use std::sync::Arc;

/// Message submission (RFC 6409) into the access point.
pub struct Submission {
    p: Arc<Provider>,
}

impl Submission {
    pub fn new(p: Arc<Provider>) -> Self {
        Submission { p }
    }
}

/// The MX: the incoming point.
pub struct Inbound {
    p: Arc<Provider>,
}

impl Inbound {
    pub fn new(p: Arc<Provider>) -> Self {
        Inbound { p }
    }
}

/// Runs `f` on the blocking pool (the services write to disk and fsync); `fallback` if the
/// task could not finish.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static, fallback: T) -> T {
    services::blocking(f).await.unwrap_or(fallback)
}

impl Handler for Submission {
    type Identity = Principal;

    async fn authenticate(
        &self,
        login: &str,
        password: &str,
        peer: SocketAddr,
    ) -> Result<Principal, Reply> {
        use services::provider::LoginVia;
        let principal = self
            .p
            .authenticate(login, password, peer.ip(), LoginVia::Submission)
            .await
            .map_err(|e| replies::login_refused(&e))?;
        // Submission is sending: who may not send is refused here, not at MAIL FROM.
        principal
            .require(services::principal::Permission::Send)
            .map_err(replies::denied)?;
        Ok(principal)
    }

    async fn mail_from(&self, env: &Envelope<Principal>, from: &str) -> Result<(), Reply> {
        // The sender is the authenticated mailbox (RFC 6109 §3.1.1 checks From against it).
        match &env.auth {
            Some(who) if who.address.eq_ignore_ascii_case(from) => self
                .p
                .sending
                .allow(&who.address, self.p.now(), false)
                .map_err(|e| replies::rate_limited(&e)),
            _ => Err(replies::not_the_authenticated_sender(from)),
        }
    }

    async fn rcpt_to(&self, _env: &Envelope<Principal>, _rcpt: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn data(&self, env: &Envelope<Principal>, message: Vec<u8>) -> Reply {
        let (p, env) = (self.p.clone(), env.clone());
        // The session asks for AUTH before MAIL in submission; without it, nobody sends.
        let Some(who) = env.auth.clone() else {
            return replies::internal_error();
        };
        // Counted when the message comes, so sessions in parallel share the limit.
        if let Err(e) = self.p.sending.allow(&who.address, self.p.now(), true) {
            return replies::rate_limited(&e);
        }
        // The access point's lines belong to this connection's span.
        let span = tracing::Span::current();
        blocking(
            move || {
                span.in_scope(|| {
                    let submitted =
                        services::access::submit(&p, &who, &env.mail_from, &env.rcpt_to, &message);
                    replies::submitted(&submitted)
                })
            },
            replies::internal_error(),
        )
        .await
    }
}

impl Handler for Inbound {
    /// Nobody logs in at the MX.
    type Identity = std::convert::Infallible;

    async fn authenticate(
        &self,
        _login: &str,
        _password: &str,
        _peer: SocketAddr,
    ) -> Result<Self::Identity, Reply> {
        Err(replies::no_auth_here())
    }

    async fn mail_from(&self, _env: &Envelope<Self::Identity>, _from: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn rcpt_to(&self, env: &Envelope<Self::Identity>, rcpt: &str) -> Result<(), Reply> {
        let (p, env, rcpt) = (self.p.clone(), env.clone(), rcpt.to_string());
        blocking(
            move || {
                services::incoming::check_recipient(&p, &env.mail_from, &env.rcpt_to, &rcpt)
                    .map_err(|refused| replies::recipient_refused(&refused))
            },
            Err(replies::internal_error()),
        )
        .await
    }

    async fn data(&self, env: &Envelope<Self::Identity>, message: Vec<u8>) -> Reply {
        let (p, env) = (self.p.clone(), env.clone());
        let span = tracing::Span::current();
        blocking(
            move || {
                span.in_scope(|| {
                    let received =
                        services::incoming::receive(&p, &env.mail_from, &env.rcpt_to, message);
                    replies::received(&received)
                })
            },
            replies::internal_error(),
        )
        .await
    }
}
