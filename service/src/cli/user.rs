//! `tessera user …`: create users and set their passwords.

use std::io::{BufRead, Write};

use serde_json::json;

use crate::config::Config;
use crate::secrets;
use crate::store::access::TenantData;
use crate::store::users;

use super::arguments::UserCommand;
use super::{CliError, invalid, open_tenant, read_line};

pub(super) async fn user(
    config: Config,
    command: UserCommand,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            tenant,
            username,
            password_stdin: _,
            email,
            claims,
            json,
        } => {
            let mut standard_claims = serde_json::Map::new();
            for assignment in &claims {
                crate::oauth::claims::assign(&mut standard_claims, assignment).map_err(invalid)?;
            }
            let username = crate::syntax::normalize_username(&username);
            crate::syntax::check_username(&username)
                .map_err(|error| invalid(format!("--username: {error}")))?;
            if let Some(email) = &email {
                crate::syntax::check_email(email)
                    .map_err(|error| invalid(format!("--email: {error}")))?;
            }
            let password = read_line(input, "the password")?;
            let (connected, tenant) = open_tenant(config, &tenant).await?;

            let hash = secrets::hash_password(&password)?;
            let created = users::create(
                TenantData::new(&connected.databases, &tenant),
                &username,
                tenant.settings.usernames_ignore_case,
                email.as_deref(),
                hash,
                &standard_claims,
            )
            .await?;
            if json {
                writeln!(out, "{:#}", json!(users::UserSummary::from(&created)))?;
            } else {
                writeln!(
                    out,
                    "created user {} in tenant {}",
                    created.username, tenant.slug
                )?;
            }
            Ok(())
        }
        UserCommand::List { tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let list = users::list(TenantData::new(&connected.databases, &tenant)).await?;
            if json {
                let summaries: Vec<_> = list.iter().map(users::UserSummary::from).collect();
                writeln!(out, "{:#}", json!(summaries))?;
            } else {
                for user in &list {
                    writeln!(
                        out,
                        "{}\t{}",
                        user.username,
                        user.email.as_deref().unwrap_or("")
                    )?;
                }
            }
            Ok(())
        }
    }
}
