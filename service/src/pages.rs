//! Server-rendered pages (login, consent, device, authorized tokens, errors) from
//! minijinja templates. The built-in templates are compiled into the binary; an
//! operator replaces any of them with a file of the same name in `templates_dir`.
//! Every template name ends in `.html`, so minijinja escapes every value it prints
//! (DESIGN.md §8): user input never becomes markup.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use crate::error::Error;

/// The built-in templates, by name.
const BUILT_IN: [(&str, &str); 11] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("sign_up.html", include_str!("../templates/sign_up.html")),
    ("consent.html", include_str!("../templates/consent.html")),
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

/// The page templates, loaded once at startup.
#[derive(Debug)]
pub struct Pages {
    environment: Environment<'static>,
}

impl Pages {
    /// The built-in templates, each replaced by `folder/NAME` where that file exists.
    /// A replacement that cannot be read or does not compile is an error naming it.
    pub fn load(folder: Option<&Path>) -> Result<Self, Error> {
        let mut environment = Environment::new();
        for (name, built_in) in BUILT_IN {
            let source = match folder.map(|folder| folder.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path).map_err(|error| {
                    Error::Config(format!(
                        "templates_dir: cannot read {}: {error}",
                        path.display()
                    ))
                })?,
                _ => built_in.to_owned(),
            };
            environment
                .add_template_owned(name, source)
                .map_err(|error| Error::Config(format!("templates_dir: {name}: {error}")))?;
        }
        if let Some(folder) = folder
            && !folder.is_dir()
        {
            return Err(Error::Config(format!(
                "templates_dir: {} is not a folder",
                folder.display()
            )));
        }
        Ok(Self { environment })
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Pages;

    #[test]
    fn escapes_what_it_prints() {
        let pages = Pages::load(None).unwrap();
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
        let pages = Pages::load(Some(folder.path())).unwrap();
        let html = pages
            .render("error.html", serde_json::json!({"title": "T"}))
            .unwrap();
        assert_eq!(html, "custom T");
        std::fs::write(folder.path().join("login.html"), "{% if %}").unwrap();
        let error = Pages::load(Some(folder.path())).unwrap_err().to_string();
        assert!(error.contains("login.html"), "{error}");
    }
}
