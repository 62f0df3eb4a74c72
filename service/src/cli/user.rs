//! `tessera user …`: a user's life cycle, over [`crate::administration::users`].

use std::io::{BufRead, Write};

use serde_json::json;

use crate::administration::Actor;
use crate::administration::users::{self, NewUser, UserView};
use crate::config::Config;
use crate::secrets;
use crate::store::access::TenantData;
use crate::store::users::AccountChanges;

use super::arguments::UserCommand;
use super::{CliError, invalid, open_tenant, read_line};

pub(super) async fn user(
    config: Config,
    command: UserCommand,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let actor = Actor::CommandLine;
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
            users::check_identity(&username, email.as_deref())
                .map_err(|error| invalid(format!("--{error}")))?;
            let password = read_line(input, "the password")?;
            users::check_password(&password)?;
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let new = NewUser {
                username,
                email,
                password_hash: secrets::hash_password(&password)?,
                claims: standard_claims,
            };
            let created = users::create(&connected.databases, &tenant, new, &actor).await?;
            if json {
                writeln!(out, "{:#}", json!(UserView::from(&created)))?;
            } else {
                writeln!(
                    out,
                    "created user {} (subject {}) in tenant {}",
                    created.username, created.subject, tenant.slug
                )?;
            }
            Ok(())
        }
        UserCommand::List { tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let list =
                crate::store::users::list(TenantData::new(&connected.databases, &tenant)).await?;
            if json {
                let views: Vec<_> = list.iter().map(UserView::from).collect();
                writeln!(out, "{:#}", json!(views))?;
            } else {
                for user in &list {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        user.username,
                        user.subject,
                        if user.is_active { "active" } else { "disabled" },
                        user.email.as_deref().unwrap_or("")
                    )?;
                }
            }
            Ok(())
        }
        UserCommand::Show { user, tenant, json } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = users::find(&connected.databases, &tenant, &user).await?;
            print_user(out, &UserView::from(&found), json)
        }
        UserCommand::Disable { user, tenant } => {
            set_active(config, &tenant, &user, false, &actor, out).await
        }
        UserCommand::Enable { user, tenant } => {
            set_active(config, &tenant, &user, true, &actor, out).await
        }
        UserCommand::SetPassword {
            user,
            tenant,
            password_stdin: _,
        } => {
            let password = read_line(input, "the password")?;
            users::check_password(&password)?;
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = users::find(&connected.databases, &tenant, &user).await?;
            let changes = AccountChanges {
                password_hash: Some(secrets::hash_password(&password)?),
                ..AccountChanges::default()
            };
            users::change(&connected.databases, &tenant, &found, &changes, &actor).await?;
            writeln!(
                out,
                "set the password of {} in tenant {}; their sessions ended",
                found.username, tenant.slug
            )?;
            Ok(())
        }
        UserCommand::Delete { user, tenant } => {
            let (connected, tenant) = open_tenant(config, &tenant).await?;
            let found = users::find(&connected.databases, &tenant, &user).await?;
            users::delete(&connected.databases, &tenant, &found, &actor).await?;
            writeln!(
                out,
                "deleted user {} (subject {}) of tenant {}: tokens revoked, consents and \
                 sessions removed",
                found.username, found.subject, tenant.slug
            )?;
            Ok(())
        }
    }
}

async fn set_active(
    config: Config,
    tenant: &str,
    user: &str,
    active: bool,
    actor: &Actor,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (connected, tenant) = open_tenant(config, tenant).await?;
    let found = users::find(&connected.databases, &tenant, user).await?;
    let changes = AccountChanges {
        active: Some(active),
        ..AccountChanges::default()
    };
    users::change(&connected.databases, &tenant, &found, &changes, actor).await?;
    if active {
        writeln!(
            out,
            "enabled user {} of tenant {}",
            found.username, tenant.slug
        )?;
    } else {
        writeln!(
            out,
            "disabled user {} of tenant {}: sessions ended, tokens revoked",
            found.username, tenant.slug
        )?;
    }
    Ok(())
}

fn print_user(out: &mut dyn Write, view: &UserView, json: bool) -> Result<(), CliError> {
    if json {
        writeln!(out, "{:#}", json!(view))?;
    } else {
        writeln!(out, "username: {}", view.username)?;
        writeln!(out, "subject:  {}", view.subject)?;
        writeln!(out, "email:    {}", view.email.as_deref().unwrap_or("-"))?;
        writeln!(
            out,
            "state:    {}",
            if view.active { "active" } else { "disabled" }
        )?;
        writeln!(out, "created:  {}", view.created_at)?;
        writeln!(out, "updated:  {}", view.updated_at)?;
        if !view.claims.is_empty() {
            writeln!(
                out,
                "claims:   {}",
                serde_json::Value::Object(view.claims.clone())
            )?;
        }
    }
    Ok(())
}
