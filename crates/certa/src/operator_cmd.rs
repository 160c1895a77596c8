//! `certa operator …`: the accounts of the operator console. Only here — whoever runs the
//! command line on the host — are operators created; passwords are generated and printed
//! once, a second factor is printed once as its `otpauth://` URI.

use clap::Subcommand;
use services::operators::{self, Credentials};
use std::path::Path;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; prints the password (and the TOTP URI with --totp) once.
    Add {
        name: String,
        /// With a second factor (TOTP, RFC 6238) for the authenticator app.
        #[arg(long)]
        totp: bool,
    },
    /// List the operators.
    List,
    /// A new generated password; the operator's sessions end.
    Passwd { name: String },
    /// Turn the second factor on (a new secret) or off.
    Totp {
        name: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Disable an operator: no login, every session ends.
    Disable { name: String },
    /// Enable a disabled operator again.
    Enable { name: String },
}

fn print(c: &Credentials) {
    if let Some(pw) = &c.password {
        println!("password: {pw}");
    }
    if let Some(uri) = &c.totp_uri {
        println!("totp: {uri}");
    }
}

pub fn run(data: &Path, cmd: &OperatorCommand) -> anyhow::Result<()> {
    let (cfg, store) = crate::admin::open(data)?;
    let key = || cfg.migration.settings(data).map(|s| s.key);
    let provider = &cfg.provider.name;
    let log = |event: &str, name: &str, text: &str| {
        operators::record(
            &*store,
            provider,
            operators::Action {
                event,
                target: &format!("operatore:{name}"),
                actor: &crate::admin::actor(),
            },
            text,
            crate::now(),
        )
    };
    match cmd {
        OperatorCommand::Add { name, totp } => {
            let c = operators::create(&*store, &key()?, provider, name, *totp, crate::now())?;
            log(
                "operatore-creato",
                name,
                &format!(
                    "operatore {name} creato{}",
                    if *totp { " con secondo fattore" } else { "" }
                ),
            )?;
            println!("operatore {name} creato");
            print(&c);
        }
        OperatorCommand::List => {
            for o in store.operators()? {
                println!(
                    "{}\t{}\t{}",
                    o.name,
                    if o.totp_secret.is_some() {
                        "totp"
                    } else {
                        "solo password"
                    },
                    if o.disabled { "disabilitato" } else { "attivo" }
                );
            }
        }
        OperatorCommand::Passwd { name } => {
            let pw = operators::new_password(&*store, name)?;
            log(
                "operatore-modificato",
                name,
                &format!("nuova password per l'operatore {name}"),
            )?;
            print(&Credentials {
                password: Some(pw),
                totp_uri: None,
            });
        }
        OperatorCommand::Totp { name, state } => {
            let on = state == "on";
            let uri = operators::set_totp(&*store, &key()?, provider, name, on)?;
            log(
                "operatore-modificato",
                name,
                &format!("secondo fattore dell'operatore {name}: {state}"),
            )?;
            print(&Credentials {
                password: None,
                totp_uri: uri,
            });
        }
        OperatorCommand::Disable { name } | OperatorCommand::Enable { name } => {
            let disable = matches!(cmd, OperatorCommand::Disable { .. });
            operators::set_disabled(&*store, name, disable)?;
            let state = if disable {
                "disabilitato"
            } else {
                "riabilitato"
            };
            log(
                "operatore-modificato",
                name,
                &format!("operatore {name} {state}"),
            )?;
            println!("operatore {name} {state}");
        }
    }
    Ok(())
}
