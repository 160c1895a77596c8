"""The anchor of the pipeline benchmark: Debian's Postfix taking plain (uncertified) mail over
implicit TLS with SMTP AUTH (checked by Dovecot's auth service) and delivering it into
Dovecot over LMTP, as a conventional mail provider does. Private instances of both, in a
temporary directory, on free loopback ports; nothing of the system's own configuration is
read or changed.

Postfix's master must start as root (it drops to the `postfix` user); the bench reports the
anchor as unavailable otherwise.
"""
import os, shutil, subprocess, time

PASSWORD = "Rosso#Tramonto7"


def available():
    return (os.getuid() == 0 and shutil.which("postfix") is not None
            and os.path.exists("/usr/sbin/dovecot") and os.path.exists("/usr/lib/dovecot/lmtp"))


class PostfixDovecot:
    """Postfix (submission on `port`, wrapper-mode TLS) → LMTP → Dovecot (maildir)."""

    def __init__(self, work, port, users, cert, key):
        self.dir = os.path.join(work, "plain")
        self.port = port
        self.domain = "plain.bench.test"
        dv = os.path.join(self.dir, "dovecot")
        pf = os.path.join(self.dir, "postfix")
        self.mail = os.path.join(dv, "mail")
        for d in (dv, pf, self.mail, os.path.join(dv, "run"), os.path.join(pf, "spool"),
                  os.path.join(pf, "data")):
            os.makedirs(d, exist_ok=True)
        os.chmod(work, 0o755)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.mail, "dovecot", "dovecot")
        shutil.chown(os.path.join(pf, "data"), "postfix", "postfix")
        hashed = subprocess.run(["doveadm", "pw", "-s", "ARGON2ID", "-p", PASSWORD],
                                capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(dv, "users"), "w") as f:
            for u in users:
                f.write(f"{u}@{self.domain}:{hashed}\n")
        self.dovecot_conf = os.path.join(dv, "dovecot.conf")
        with open(self.dovecot_conf, "w") as f:
            f.write(f"""
base_dir = {dv}/run
state_dir = {dv}/state
log_path = {dv}/dovecot.log
protocols = lmtp
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
mail_location = maildir:{self.mail}/%n
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  process_limit = 200
}}
service auth {{
  unix_listener auth-client {{
    mode = 0666
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {dv}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={self.mail}/%n
}}
""")
        self.pf = pf
        with open(os.path.join(pf, "main.cf"), "w") as f:
            f.write(f"""
compatibility_level = 3.6
queue_directory = {pf}/spool
data_directory = {pf}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{self.domain}
mydestination =
local_recipient_maps =
virtual_mailbox_domains = {self.domain}
virtual_transport = lmtp:unix:{dv}/run/lmtp
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {dv}/run/auth-client
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
lmtp_destination_concurrency_limit = 20
maillog_file_prefixes = {pf}
maillog_file = {pf}/postfix.log
""")
        services = ["pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr", "tlsmgr unix - - n 1000? 1 tlsmgr",
                    "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce",
                    "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
                    "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
                    "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp",
                    "relay unix - - n - - smtp", "showq unix n - n - - showq",
                    "error unix - - n - - error", "retry unix - - n - - error",
                    "discard unix - - n - - discard", "local unix - n n - - local",
                    "virtual unix - n n - - virtual", "lmtp unix - - n - - lmtp",
                    "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
                    "postlog unix-dgram n - n - 1 postlogd"]
        with open(os.path.join(pf, "master.cf"), "w") as f:
            f.write(f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n")
            f.write("\n".join(services) + "\n")

    def start(self):
        self.dovecot = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.dovecot_conf],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(self.dir, "dovecot", "run", "lmtp")):
            if time.time() > deadline:
                raise RuntimeError("Dovecot did not start")
            time.sleep(0.05)
        env = dict(os.environ, MAIL_CONFIG=self.pf)
        for step in ("check", "start"):
            # Postfix writes its reasons to syslog or a terminal: `script` gives it one.
            r = subprocess.run(["script", "-qc", f"postfix -c {self.pf} {step}", "/dev/null"],
                               env=env, capture_output=True, text=True)
            if r.returncode != 0 or "fatal" in r.stdout:
                raise RuntimeError(f"postfix {step}: {r.stdout.strip()}")

    def delivered(self):
        """Messages Dovecot has put into the maildirs so far."""
        n = 0
        for user in os.listdir(self.mail):
            for sub in ("new", "cur"):
                try:
                    n += len(os.listdir(os.path.join(self.mail, user, sub)))
                except FileNotFoundError:
                    pass
        return n

    def stop(self):
        env = dict(os.environ, MAIL_CONFIG=self.pf)
        subprocess.run(["postfix", "-c", self.pf, "stop"], env=env, capture_output=True)
        self.dovecot.terminate()
        self.dovecot.wait()
