//! `tessera consent …`: a user's authorized applications, over
//! [`crate::administration::consents`].

use std::io::Write;

use serde_json::json;

use crate::administration::{Actor, consents, users};
use crate::config::Config;

use super::arguments::ConsentCommand;
use super::{CliError, open_tenant};

pub(super) async fn consent(
    config: Config,
    command: ConsentCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        ConsentCommand::List { tenant, user, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = users::find(&connected.databases, &tenant, &user).await?;
            let list = consents::list(&connected.databases, &tenant, &found).await?;
            if json {
                writeln!(out, "{:#}", json!(list))?;
            } else if list.is_empty() {
                writeln!(out, "{} has authorized no application", found.username)?;
            } else {
                for entry in &list {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        entry.client_id,
                        entry.name,
                        entry.scopes.join(" "),
                        match (entry.holds_tokens, entry.consent_remembered) {
                            (true, true) => "tokens, consent remembered",
                            (true, false) => "tokens",
                            _ => "consent remembered",
                        }
                    )?;
                }
            }
            Ok(())
        }
        ConsentCommand::Revoke {
            client_id,
            tenant,
            user,
        } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = users::find(&connected.databases, &tenant, &user).await?;
            consents::revoke(
                &connected.databases,
                &tenant,
                &found,
                &client_id,
                &Actor::CommandLine,
            )
            .await?;
            writeln!(
                out,
                "revoked {client_id}'s tokens of {} and forgot the consent",
                found.username
            )?;
            Ok(())
        }
    }
}
