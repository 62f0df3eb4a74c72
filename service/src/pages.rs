//! Server-rendered pages (login, consent, device, authorized tokens, errors) from
//! minijinja templates. The built-in templates are compiled into the binary; an
//! operator replaces any of them with a file of the same name in `templates_dir`,
//! for one tenant in `tenants.SLUG.templates_dir`, and for one client of it in that
//! folder's `clients/CLIENT_ID/`. A page is looked up client → tenant → service →
//! built-in.
//! Every template name ends in `.html`, so minijinja escapes every value it prints
//! (docs/templates.md): user input never becomes markup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use serde::Serialize;

use crate::config::Config;
use crate::error::Error;

/// The built-in templates, by name.
const BUILT_IN: [(&str, &str); 16] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("sign_up.html", include_str!("../templates/sign_up.html")),
    (
        "applications.html",
        include_str!("../templates/applications.html"),
    ),
    (
        "application_form.html",
        include_str!("../templates/application_form.html"),
    ),
    (
        "application_secret.html",
        include_str!("../templates/application_secret.html"),
    ),
    (
        "application_confirm.html",
        include_str!("../templates/application_confirm.html"),
    ),
    ("consent.html", include_str!("../templates/consent.html")),
    ("landing.html", include_str!("../templates/landing.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("device.html", include_str!("../templates/device.html")),
    (
        "device_confirm.html",
        include_str!("../templates/device_confirm.html"),
    ),
    ("message.html", include_str!("../templates/message.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    (
        "authorized_tokens.html",
        include_str!("../templates/authorized_tokens.html"),
    ),
];

/// The stylesheet every page links (`/assets/tessera.css`).
pub const STYLESHEET: &str = include_str!("../templates/tessera.css");

/// What the template context looks like (docs/templates.md); every page gets it as
/// `context_version`. It changes only when a field is removed or changes meaning.
pub const CONTEXT_VERSION: u32 = 1;

/// Where templates come from: the service's folder (replacing built-in pages for
/// every tenant) and tenants' folders (for one tenant; their `clients/CLIENT_ID/`
/// subfolders for one client of it).
#[derive(Clone, Debug, Default)]
pub struct TemplateFolders {
    /// `templates_dir`.
    pub service: Option<PathBuf>,
    /// `tenants.SLUG.templates_dir`, by slug.
    pub tenants: BTreeMap<String, PathBuf>,
}

impl TemplateFolders {
    /// The folders the configuration names.
    pub fn of(config: &Config) -> Self {
        Self {
            service: config.templates_dir.clone(),
            tenants: config
                .tenants
                .iter()
                .filter_map(|(slug, tenant)| {
                    tenant
                        .templates_dir
                        .clone()
                        .map(|folder| (slug.as_str().to_owned(), folder))
                })
                .collect(),
        }
    }
}

/// The name a tenant's (and, with `client_id`, a client's) version of `name` is
/// stored under.
fn layered_name(slug: &str, client_id: Option<&str>, name: &str) -> String {
    match client_id {
        Some(client_id) => format!("tenants/{slug}/clients/{client_id}/{name}"),
        None => format!("tenants/{slug}/{name}"),
    }
}

/// The page templates, loaded and compiled once at startup.
#[derive(Debug)]
pub struct Pages {
    environment: Environment<'static>,
    /// Every name loaded (built-in, tenant and client layers).
    names: Arc<BTreeSet<String>>,
}

fn read(path: &Path, key: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|error| Error::Config(format!("{key}: cannot read {}: {error}", path.display())))
}

/// The page templates in `folder` (only built-in names; any other `.html` file is a
/// mistake worth saying, such as `logn.html`).
fn layer(folder: &Path, key: &str) -> Result<Vec<(&'static str, String)>, Error> {
    if !folder.is_dir() {
        return Err(Error::Config(format!(
            "{key}: {} is not a folder",
            folder.display()
        )));
    }
    let entries = std::fs::read_dir(folder).map_err(|error| {
        Error::Config(format!("{key}: cannot list {}: {error}", folder.display()))
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::Config(format!("{key}: {error}")))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.ends_with(".html") {
            continue;
        }
        let Some((name, _)) = BUILT_IN.iter().find(|(name, _)| *name == file_name) else {
            let known: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
            return Err(Error::Config(format!(
                "{key}: {} is not a page template; the pages are {}",
                entry.path().display(),
                known.join(", ")
            )));
        };
        found.push((*name, read(&entry.path(), key)?));
    }
    Ok(found)
}

impl Pages {
    /// The built-in templates, each replaced by `folders.service/NAME` where that file
    /// exists, plus every tenant's and client's own. A template that cannot be read or
    /// does not compile is an error naming it, at startup (and in `tessera check`),
    /// never at the first request.
    pub fn load(folders: &TemplateFolders) -> Result<Self, Error> {
        // The service's folder follows the tenants' rule: only page names, so a
        // misspelt `logn.html` is named at startup and by `tessera check` alike.
        let service_layer = match &folders.service {
            Some(folder) => layer(folder, "templates_dir")?,
            None => Vec::new(),
        };
        let mut sources: Vec<(String, String)> = Vec::new();
        for (name, built_in) in BUILT_IN {
            let source = service_layer
                .iter()
                .find(|(found, _)| *found == name)
                .map_or_else(|| (*built_in).to_owned(), |(_, source)| source.clone());
            sources.push((name.to_owned(), source));
        }
        for (slug, folder) in &folders.tenants {
            let key = format!("tenants.{slug}.templates_dir");
            for (name, source) in layer(folder, &key)? {
                sources.push((layered_name(slug, None, name), source));
            }
            let clients = folder.join("clients");
            if clients.is_dir() {
                let entries = std::fs::read_dir(&clients).map_err(|error| {
                    Error::Config(format!("{key}: cannot list {}: {error}", clients.display()))
                })?;
                for entry in entries {
                    let entry = entry.map_err(|error| Error::Config(format!("{key}: {error}")))?;
                    if !entry.path().is_dir() {
                        continue;
                    }
                    let client_id = entry.file_name().to_string_lossy().into_owned();
                    for (name, source) in layer(&entry.path(), &key)? {
                        sources.push((layered_name(slug, Some(&client_id), name), source));
                    }
                }
            }
        }
        let names: Arc<BTreeSet<String>> =
            Arc::new(sources.iter().map(|(name, _)| name.clone()).collect());
        let mut environment = Environment::new();
        environment.add_global("context_version", CONTEXT_VERSION);
        // `{% extends "base.html" %}` in a client's or tenant's template means the most
        // specific `base.html` there is: the client's, the tenant's, the service's.
        let known = Arc::clone(&names);
        environment.set_path_join_callback(move |name, parent| {
            let mut folder = parent;
            while let Some((up, _)) = folder.rsplit_once('/') {
                let candidate = format!("{up}/{name}");
                if known.contains(&candidate) {
                    return candidate.into();
                }
                folder = up;
            }
            name.to_owned().into()
        });
        for (name, source) in sources {
            let key = if name.starts_with("tenants/") {
                "tenant templates_dir"
            } else {
                "templates_dir"
            };
            environment
                .add_template_owned(name.clone(), source)
                .map_err(|error| Error::Config(format!("{key}: {name}: {error}")))?;
        }
        Ok(Self { environment, names })
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, Error> {
        let template = self
            .environment
            .get_template(name)
            .map_err(|error| Error::Template(format!("{name}: {error}")))?;
        template
            .render(context)
            .map_err(|error| Error::Template(format!("rendering {name}: {error}")))
    }

    /// Renders the most specific version of page `name`: the client's (when the page
    /// is for one), the tenant's, the service's or the built-in one.
    pub fn render_for(
        &self,
        slug: &str,
        client_id: Option<&str>,
        name: &str,
        context: impl Serialize,
    ) -> Result<String, Error> {
        let client = client_id.map(|client_id| layered_name(slug, Some(client_id), name));
        let tenant = layered_name(slug, None, name);
        let chosen = client
            .iter()
            .chain(std::iter::once(&tenant))
            .find(|candidate| self.names.contains(*candidate))
            .map_or(name, String::as_str);
        self.render(chosen, context)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Pages;

    #[test]
    fn escapes_what_it_prints() {
        let pages = Pages::load(&Default::default()).unwrap();
        let html = pages
            .render(
                "error.html",
                serde_json::json!({"title": "<script>x</script>", "message": "a&b"}),
            )
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("a&amp;b"));
    }

    #[test]
    fn a_template_in_the_folder_replaces_the_built_in_one() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("error.html"), "custom {{ title }}").unwrap();
        let folders = super::TemplateFolders {
            service: Some(folder.path().to_owned()),
            ..Default::default()
        };
        let pages = Pages::load(&folders).unwrap();
        let html = pages
            .render("error.html", serde_json::json!({"title": "T"}))
            .unwrap();
        assert_eq!(html, "custom T");
        std::fs::write(folder.path().join("login.html"), "{% if %}").unwrap();
        let error = Pages::load(&folders).unwrap_err().to_string();
        assert!(error.contains("login.html"), "{error}");
    }
}
