//! POP3 against the real server on loopback: Python's poplib over STLS and implicit TLS,
//! and a raw socket client for the wire details (byte-stuffing, pipelining, limits).

mod common;

use common::{message, stuffed, Client, Options, Server, PASSWORD, USER};

/// A body with lines that must be dot-stuffed, one of them a lone `.`.
const DOTTED_BODY: &str =
    "Riga uno\r\n.riga che inizia con un punto\r\n..due punti\r\n.\r\nfine.\r\n";

fn plaintext_server() -> Server {
    Server::start(Options {
        allow_plaintext_auth: true,
        ..Options::default()
    })
}

fn raw_login(c: &mut Client) {
    assert!(c.cmd(&format!("USER {USER}")).starts_with("+OK"));
    let r = c.cmd(&format!("PASS {PASSWORD}"));
    assert!(r.starts_with("+OK"), "{r}");
}

#[test]
fn capa_before_and_after_stls() {
    let s = Server::start(Options::default());
    s.append(&message(1, "ciao\r\n"));
    let out = s.python(
        r#"
p = plain()
print('WELCOME', p.getwelcome().decode())
print('BEFORE', sorted(p.capa().items()))
p.stls(CTX)
print('AFTER', sorted(p.capa().items()))
login(p)
print('LOGGED', sorted(p.capa().items()))
print('STAT', p.stat())
print('QUIT', p.quit().decode())
"#,
    );
    let line = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} in {out}"))
            .to_string()
    };
    assert_eq!(
        line("WELCOME "),
        "+OK mail.pec.example.test Certa POP3 pronto"
    );
    assert_eq!(
        line("BEFORE "),
        "[('AUTH-RESP-CODE', []), ('IMPLEMENTATION', ['Certa']), ('PIPELINING', []), \
         ('RESP-CODES', []), ('STLS', []), ('TOP', []), ('UIDL', [])]"
    );
    let with_auth = "[('AUTH-RESP-CODE', []), ('IMPLEMENTATION', ['Certa']), ('PIPELINING', []), \
         ('RESP-CODES', []), ('SASL', ['PLAIN']), ('TOP', []), ('UIDL', []), ('USER', [])]";
    assert_eq!(line("AFTER "), with_auth);
    assert_eq!(line("LOGGED "), with_auth);
    let size = message(1, "ciao\r\n").len();
    assert_eq!(line("STAT "), format!("(1, {size})"));
    assert!(line("QUIT ").starts_with("+OK mail.pec.example.test"));
}

#[test]
fn implicit_tls_with_pop3_ssl() {
    let s = Server::start(Options::default());
    let m = message(1, "su TLS implicito\r\n");
    s.append(&m);
    let out = s.python(
        r#"
p = implicit()
print('CAPA', sorted(p.capa()))
login(p)
print('STAT', p.stat())
resp, lines, octets = p.retr(1)
print('RETR', resp.decode(), octets)
open(WORK + '/retr', 'wb').write(b'\r\n'.join(lines) + b'\r\n')
p.quit()
"#,
    );
    assert!(
        out.contains(
            "CAPA ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', \
             'TOP', 'UIDL', 'USER']"
        ),
        "{out}"
    );
    assert!(out.contains(&format!("STAT (1, {})", m.len())), "{out}");
    assert!(
        out.contains(&format!("RETR +OK {} ottetti", m.len())),
        "{out}"
    );
    assert_eq!(std::fs::read(s.dir.path().join("retr")).unwrap(), m);
}

#[test]
fn plaintext_login_refused_without_tls() {
    let s = Server::start(Options::default());
    let out = s.python(
        r#"
p = plain()
print('USER', err(p.user, USER))
print('PASS', err(p.pass_, PASSWORD))
print('AUTH', err(p._shortcmd, 'AUTH PLAIN ' + plain_b64('', USER, PASSWORD)))
print('STAT', err(p.stat))
p.stls(CTX)
login(p)
print('STAT', p.stat())
p.quit()
"#,
    );
    assert!(
        out.contains("USER -ERR [AUTH] autenticazione in chiaro non consentita: usare prima STLS"),
        "{out}"
    );
    assert!(out.contains("PASS -ERR [AUTH]"), "{out}");
    assert!(out.contains("AUTH -ERR [AUTH]"), "{out}");
    assert!(
        out.contains("STAT -ERR autenticarsi prima di usare questo comando"),
        "{out}"
    );
    assert!(out.contains("STAT (0, 0)"), "{out}");
}

#[test]
fn auth_plain_with_initial_response_and_continuation() {
    let s = Server::start(Options::default());
    let out = s.python(
        r#"
p = starttls()
r = p._longcmd('AUTH')
print('LIST', r[0].decode(), r[1])
print('CANCEL', p._shortcmd('AUTH PLAIN').decode(), err(p._shortcmd, '*'))
print('MECH', err(p._shortcmd, 'AUTH CRAM-MD5'))
print('AUTHZ', err(p._shortcmd, 'AUTH PLAIN ' + plain_b64('altro@pec.example.test', USER, PASSWORD)))
print('IR', p._shortcmd('AUTH PLAIN ' + plain_b64('', USER, PASSWORD)).decode())
print('AGAIN', err(p._shortcmd, 'AUTH PLAIN ' + plain_b64('', USER, PASSWORD)))
p.quit()

p = starttls()
print('CONT', p._shortcmd('AUTH PLAIN').decode())
print('DONE', p._shortcmd(plain_b64(USER, USER, PASSWORD)).decode())
print('STAT', p.stat())
p.quit()
"#,
    );
    assert!(
        out.contains("LIST +OK meccanismi SASL disponibili [b'PLAIN']"),
        "{out}"
    );
    assert!(
        out.contains("CANCEL +  -ERR autenticazione annullata"),
        "{out}"
    );
    assert!(
        out.contains("MECH -ERR meccanismo SASL non supportato"),
        "{out}"
    );
    assert!(out.contains("AUTHZ -ERR [AUTH]"), "{out}");
    assert!(out.contains("IR +OK accesso eseguito: 0 messaggi"), "{out}");
    assert!(
        out.contains("AGAIN -ERR autenticazione già eseguita"),
        "{out}"
    );
    assert!(out.contains("CONT +"), "{out}");
    assert!(out.contains("DONE +OK accesso eseguito"), "{out}");
    assert!(out.contains("STAT (0, 0)"), "{out}");
}

#[test]
fn wrong_password_gets_auth_code() {
    let s = Server::start(Options::default());
    let out = s.python(
        r#"
p = starttls()
p.user(USER)
print('WRONG', err(p.pass_, 'sbagliata'))
print('NOUSER', err(p.pass_, PASSWORD))
print('UNKNOWN', p.user('nessuno@pec.example.test').decode(), err(p.pass_, PASSWORD))
print('SASL', err(p._shortcmd, 'AUTH PLAIN ' + plain_b64('', USER, 'sbagliata')))
# The third failure closed the connection: a client that got its -ERR hangs up.
try:
    p.noop()
    print('STILL OPEN')
except (poplib.error_proto, OSError, EOFError) as e:
    print('CUT')
p = starttls()
login(p)
print('STAT', p.stat())
p.quit()
"#,
    );
    assert!(
        out.contains("WRONG -ERR [AUTH] credenziali non valide"),
        "{out}"
    );
    assert!(out.contains("NOUSER -ERR inviare prima USER"), "{out}");
    // Whether a mailbox exists is not told.
    assert!(
        out.contains("UNKNOWN +OK inviare la password con PASS -ERR [AUTH] credenziali non valide"),
        "{out}"
    );
    assert!(
        out.contains(
            "SASL -ERR [AUTH] credenziali non valide; troppi accessi non riusciti: connessione \
             chiusa"
        ),
        "{out}"
    );
    assert!(out.contains("CUT") && !out.contains("STILL OPEN"), "{out}");
    assert!(out.contains("STAT (0, 0)"), "{out}");
}

#[test]
fn throttled_after_repeated_failures() {
    let s = Server::start(Options {
        max_failures: 3,
        ..Options::default()
    });
    let out = s.python(
        r#"
p = starttls()
for i in range(3):
    p.user(USER)
    print('FAIL', err(p.pass_, 'sbagliata'))
p = starttls()
p.user(USER)
print('THROTTLED', err(p.pass_, PASSWORD))
p.quit()
"#,
    );
    assert_eq!(
        out.matches("FAIL -ERR [AUTH] credenziali non valide")
            .count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("THROTTLED -ERR [SYS/TEMP] troppi tentativi falliti"),
        "{out}"
    );
}

#[test]
fn stat_list_uidl_top_retr_return_the_stored_bytes() {
    let s = Server::start(Options::default());
    let messages = [
        message(1, "primo messaggio\r\n"),
        message(2, DOTTED_BODY),
        message(3, &"una riga lunga di testo\r\n".repeat(4000)),
    ];
    let uids: Vec<i64> = messages.iter().map(|m| s.append(m)).collect();
    let out = s.python(
        r#"
p = login(starttls())
print('STAT', p.stat())
print('LIST', [l.decode() for l in p.list()[1]])
print('LIST2', p.list(2).decode())
print('UIDL', [l.decode() for l in p.uidl()[1]])
print('UIDL3', p.uidl(3).decode())
for n in (1, 2, 3):
    resp, lines, octets = p.top(n, 1)
    open('%s/top%d' % (WORK, n), 'wb').write(b'\r\n'.join(lines) + b'\r\n')
    resp, lines, octets = p.retr(n)
    print('RETR', n, resp.decode())
    open('%s/retr%d' % (WORK, n), 'wb').write(b'\r\n'.join(lines) + b'\r\n')
print('TOP0', len(p.top(1, 0)[1]))
print('MISSING', err(p.retr, 4), err(p.list, 9), err(p.top, 0, 1))
p.quit()
"#,
    );
    let total: usize = messages.iter().map(Vec::len).sum();
    assert!(out.contains(&format!("STAT (3, {total})")), "{out}");
    let list: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| format!("'{} {}'", i + 1, m.len()))
        .collect();
    assert!(
        out.contains(&format!("LIST [{}]", list.join(", "))),
        "{out}"
    );
    assert!(
        out.contains(&format!("LIST2 +OK 2 {}", messages[1].len())),
        "{out}"
    );
    let v = s.uidvalidity();
    assert!(
        out.contains(&format!(
            "UIDL ['1 {v}-{}', '2 {v}-{}', '3 {v}-{}']",
            uids[0], uids[1], uids[2]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("UIDL3 +OK 3 {v}-{}", uids[2])),
        "{out}"
    );
    for (i, m) in messages.iter().enumerate() {
        let n = i + 1;
        assert!(
            out.contains(&format!("RETR {n} +OK {} ottetti", m.len())),
            "{out}"
        );
        let retr = std::fs::read(s.dir.path().join(format!("retr{n}"))).unwrap();
        assert_eq!(retr, *m, "RETR {n}");
        let top = std::fs::read(s.dir.path().join(format!("top{n}"))).unwrap();
        let header_end = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let first_line = m[header_end..].iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(top, m[..header_end + first_line], "TOP {n} 1");
    }
    // TOP 1 0: the header lines and the blank line.
    assert!(out.contains("TOP0 7"), "{out}");
    assert!(
        out.contains(
            "MISSING -ERR messaggio inesistente -ERR messaggio inesistente -ERR numero non valido: 0"
        ),
        "{out}"
    );
    // RETR marked every message \Seen.
    for e in s.inbox() {
        assert!(e.flags.contains("\\Seen"), "{e:?}");
    }
}

#[test]
fn byte_stuffing_on_the_wire() {
    let s = plaintext_server();
    let m = message(1, DOTTED_BODY);
    let unterminated = message(2, "senza a capo finale\r\n.ultima");
    s.append(&m);
    s.append(&unterminated);
    let mut c = s.connect();
    raw_login(&mut c);
    assert_eq!(c.cmd("RETR 1"), format!("+OK {} ottetti", m.len()));
    let body = c.multi();
    assert_eq!(body, stuffed(&m));
    assert!(body.ends_with(
        b"\r\n\r\nRiga uno\r\n..riga che inizia con un punto\r\n...due punti\r\n..\r\nfine.\r\n.\r\n"
    ));
    assert_eq!(c.cmd("TOP 1 4"), "+OK intestazioni e righe richieste");
    let top = c.multi();
    assert!(top.ends_with(
        b"\r\n\r\nRiga uno\r\n..riga che inizia con un punto\r\n...due punti\r\n..\r\n.\r\n"
    ));
    // Data without a final CRLF gets one before the terminator.
    assert_eq!(
        c.cmd("RETR 2"),
        format!("+OK {} ottetti", unterminated.len())
    );
    let body = c.multi();
    assert!(body.ends_with(b"\r\n..ultima\r\n.\r\n"), "{body:?}");
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn dele_and_rset() {
    let s = Server::start(Options::default());
    let messages = [
        message(1, "a\r\n"),
        message(2, "bb\r\n"),
        message(3, "ccc\r\n"),
    ];
    for m in &messages {
        s.append(m);
    }
    let out = s.python(
        r#"
p = login(starttls())
print('DELE', p.dele(2).decode())
print('AGAIN', err(p.dele, 2))
print('STAT', p.stat())
print('LIST', [l.decode() for l in p.list()[1]])
print('UIDL', len(p.uidl()[1]))
print('GONE', err(p.retr, 2), err(p.top, 2, 0), err(p.list, 2), err(p.uidl, 2))
print('RSET', p.rset().decode())
print('STAT', p.stat())
print('RETR2', len(p.retr(2)[1]))
p.quit()
"#,
    );
    let size = |i: usize| messages[i].len();
    assert!(out.contains("DELE +OK messaggio 2 eliminato"), "{out}");
    assert!(out.contains("AGAIN -ERR messaggio già eliminato"), "{out}");
    assert!(
        out.contains(&format!("STAT (2, {})", size(0) + size(2))),
        "{out}"
    );
    assert!(
        out.contains(&format!("LIST ['1 {}', '3 {}']", size(0), size(2))),
        "{out}"
    );
    assert!(out.contains("UIDL 2"), "{out}");
    assert_eq!(
        out.matches("-ERR messaggio già eliminato").count(),
        5,
        "{out}"
    );
    let total: usize = messages.iter().map(Vec::len).sum();
    assert!(
        out.contains(&format!("RSET +OK 3 messaggi ({total} ottetti)")),
        "{out}"
    );
    assert!(out.contains(&format!("STAT (3, {total})")), "{out}");
    // RSET then QUIT: nothing removed.
    assert_eq!(s.inbox().len(), 3);
}

#[test]
fn dele_then_quit_removes_from_the_store() {
    let s = Server::start(Options::default());
    let uids: Vec<i64> = (1..=3).map(|i| s.append(&message(i, "x\r\n"))).collect();
    let v = s.uidvalidity();
    let out = s.python(
        r#"
p = login(starttls())
p.dele(1)
p.dele(3)
print('QUIT', p.quit().decode())
p = login(implicit())
print('STAT', p.stat())
print('UIDL', [l.decode() for l in p.uidl()[1]])
p.quit()
"#,
    );
    assert!(
        out.contains("QUIT +OK mail.pec.example.test Certa POP3 chiude la connessione (2 messaggi eliminati)"),
        "{out}"
    );
    let left: Vec<i64> = s.inbox().iter().map(|e| e.uid).collect();
    assert_eq!(left, vec![uids[1]]);
    // The unique-id of a message does not change between sessions.
    assert!(
        out.contains(&format!("UIDL ['1 {v}-{}']", uids[1])),
        "{out}"
    );
}

#[test]
fn dropped_connection_deletes_nothing() {
    let s = Server::start(Options::default());
    for i in 1..=2 {
        s.append(&message(i, "x\r\n"));
    }
    let out = s.python(
        r#"
p = login(starttls())
print('DELE', p.dele(1).decode(), p.dele(2).decode())
p.sock.close()
"#,
    );
    assert!(out.contains("DELE +OK"), "{out}");
    s.wait_unlocked();
    assert_eq!(s.inbox().len(), 2);
    // The lock went with the connection: a new session opens the maildrop.
    let out = s.python("p = login(implicit())\nprint('STAT', p.stat()[0])\np.quit()");
    assert!(out.contains("STAT 2"), "{out}");
}

#[test]
fn second_session_gets_in_use() {
    let s = Server::start(Options::default());
    s.append(&message(1, "x\r\n"));
    let out = s.python(
        r#"
a = login(starttls())
b = implicit()
b.user(USER)
print('SECOND', err(b.pass_, PASSWORD))
print('SASL', err(b._shortcmd, 'AUTH PLAIN ' + plain_b64('', USER, PASSWORD)))
a.dele(1)
a.quit()
login(b)
print('STAT', b.stat())
b.quit()
"#,
    );
    assert!(
        out.contains("SECOND -ERR [IN-USE] la casella è già aperta da un'altra sessione"),
        "{out}"
    );
    assert!(out.contains("SASL -ERR [IN-USE]"), "{out}");
    assert!(out.contains("STAT (0, 0)"), "{out}");
    assert!(s.inbox().is_empty());
}

#[test]
fn overlong_line_and_garbage_are_refused_and_the_server_stays_up() {
    let s = Server::start(Options::default());
    // Garbage: -ERR each time, closed after three in a row.
    let mut c = s.connect();
    c.send(b"\xff\xfe\x00garbage\r\n");
    assert_eq!(
        c.line().unwrap(),
        "-ERR la riga di comando non è testo UTF-8 valido"
    );
    assert_eq!(c.cmd("HELO x"), "-ERR comando sconosciuto: HELO");
    assert_eq!(c.cmd("NOOP"), "+OK in attesa");
    assert_eq!(
        c.cmd("LIST\0"),
        "-ERR caratteri di controllo non ammessi nella riga di comando"
    );
    assert_eq!(
        c.cmd("APOP utente 0123"),
        "-ERR APOP non è supportato: usare USER/PASS o AUTH PLAIN"
    );
    assert_eq!(
        c.cmd("RETR uno"),
        "-ERR numero non valido: uno; troppi comandi non validi: connessione chiusa"
    );
    assert!(c.closed());

    // A line over 512 octets: -ERR and closed, the rest never read.
    let mut c = s.connect();
    c.send(&vec![b'A'; 100_000]);
    assert_eq!(
        c.line().unwrap(),
        "-ERR riga di comando troppo lunga: connessione chiusa"
    );
    assert!(c.closed());

    // 510 octets and CRLF is still a line.
    let mut c = s.connect();
    let long = format!("NOOP{}", " ".repeat(506));
    assert_eq!(c.cmd(&long), "+OK in attesa");
    assert!(c.cmd("QUIT").starts_with("+OK"));

    let c = s.connect();
    assert_eq!(c.greeting, "+OK mail.pec.example.test Certa POP3 pronto");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let s = plaintext_server();
    let m = message(1, "pipelining\r\n");
    s.append(&m);
    let mut c = s.connect();
    c.send(
        format!("USER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 1\r\nNOOP\r\nQUIT\r\n")
            .as_bytes(),
    );
    assert!(c.line().unwrap().starts_with("+OK"));
    assert!(c.line().unwrap().starts_with("+OK accesso eseguito"));
    assert_eq!(c.line().unwrap(), format!("+OK 1 {}", m.len()));
    assert!(c.line().unwrap().starts_with("+OK 1 messaggi"));
    assert_eq!(c.multi(), format!("1 {}\r\n.\r\n", m.len()).into_bytes());
    assert_eq!(c.line().unwrap(), format!("+OK {} ottetti", m.len()));
    assert_eq!(c.multi(), stuffed(&m));
    assert_eq!(c.line().unwrap(), "+OK in attesa");
    assert!(c.line().unwrap().starts_with("+OK"));
    assert!(c.closed());
}

#[test]
fn stls_drops_commands_pipelined_in_clear() {
    let s = Server::start(Options::default());
    let mut c = s.connect();
    // RFC 2595 §4: what follows STLS in the same packet must not be read after the
    // handshake (CVE-2011-0411 style injection).
    c.send(b"CAPA\r\n");
    let _ = c.line();
    let _ = c.multi();
    let mut c = c.stls(&s.ca);
    assert_eq!(c.cmd("STLS"), "-ERR TLS già attivo");
    raw_login(&mut c);
    assert_eq!(c.cmd("STLS"), "-ERR TLS già attivo");

    let mut c = s.connect();
    c.send(format!("STLS\r\nUSER {USER}\r\n").as_bytes());
    let mut c2 = c.tls_handshake(&s.ca);
    // USER sent in clear was dropped: PASS has no USER to go with.
    assert_eq!(
        c2.cmd(&format!("PASS {PASSWORD}")),
        "-ERR inviare prima USER"
    );
}

#[test]
fn messages_arriving_after_login_wait_for_the_next_session() {
    let s = plaintext_server();
    s.append(&message(1, "prima\r\n"));
    let mut c = s.connect();
    raw_login(&mut c);
    let late = message(2, "dopo\r\n");
    s.append(&late);
    assert!(c.cmd("STAT").starts_with("+OK 1 "));
    assert_eq!(c.cmd("RETR 2"), "-ERR messaggio inesistente");
    assert!(c.cmd("QUIT").starts_with("+OK"));
    let mut c = s.connect();
    raw_login(&mut c);
    assert!(c.cmd("STAT").starts_with("+OK 2 "));
    assert_eq!(c.cmd("LIST 2"), format!("+OK 2 {}", late.len()));
    assert_eq!(
        c.cmd("STLS"),
        "-ERR STLS è consentito solo prima dell'autenticazione"
    );
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

/// Security review M1: with a 2 s command deadline, a client idle between commands is
/// served, while one sending a command line a byte at a time, or an AUTH continuation
/// that never ends, is told and closed at the deadline.
#[test]
fn slow_command_lines_and_auth_continuations_are_closed_at_the_deadline() {
    let s = Server::start(Options {
        allow_plaintext_auth: true,
        command_deadline: std::time::Duration::from_secs(2),
        ..Options::default()
    });
    let pause = std::time::Duration::from_millis(700);
    // Happy path: idle for longer than the deadline, then whole commands.
    let mut ok = s.connect();
    std::thread::sleep(std::time::Duration::from_secs(3));
    raw_login(&mut ok);
    assert!(ok.cmd("NOOP").starts_with("+OK"));

    let mut slow = s.connect();
    let started = std::time::Instant::now();
    for b in b"USER" {
        slow.send(&[*b]);
        std::thread::sleep(pause);
    }
    let r = slow.line().unwrap_or_default();
    assert!(r.starts_with("-ERR") && r.contains("lento"), "{r}");
    assert!(slow.closed());
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(6));

    let mut auth = s.connect();
    assert!(auth.cmd("AUTH PLAIN").starts_with("+ "));
    auth.send(b"AGF");
    let r = auth.line().unwrap_or_default();
    assert!(r.starts_with("-ERR") && r.contains("lenta"), "{r}");

    // The normal client is still served.
    assert!(ok.cmd("STAT").starts_with("+OK"));
}
