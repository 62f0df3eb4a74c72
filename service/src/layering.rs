//! The layer rule (DESIGN.md §7, docs/layers.md): a module uses only its own tree and
//! the layers below it. [`LAYERS`] is the picture; the test reads every source file
//! and names each `crate::` path that points up or sideways.

/// Top-level modules from the bottom layer up; modules on one line are one layer and
/// do not use each other.
pub const LAYERS: &[&[&str]] = &[
    &["error", "time"],
    &[
        "syntax",
        "secrets",
        "network",
        "application_fields",
        "route_names",
    ],
    &["settings"],
    &["config"],
    &["routing", "db", "telemetry", "pages"],
    &["tenancy"],
    &["store"],
    &["limits", "jose", "policy"],
    &["state"],
    &["oauth"],
    &["grants"],
    &["endpoints"],
    &["connections"],
    &["startup"],
    &["cli"],
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::LAYERS;

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// Every `crate::NAME` on a line of code (comments are skipped).
    fn uses(source: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (number, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let mut rest = code;
            while let Some(start) = rest.find("crate::") {
                let after = &rest[start + "crate::".len()..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push((number + 1, name));
                rest = after;
            }
        }
        found
    }

    #[test]
    fn modules_use_only_the_layers_below() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![root.clone()];
        let mut violations = Vec::new();
        let mut checked = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    files.push(entry.unwrap().path());
                }
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap();
            let top = relative
                .components()
                .next()
                .and_then(|component| component.as_os_str().to_str())
                .map(|name| name.trim_end_matches(".rs").to_owned())
                .unwrap_or_default();
            if matches!(top.as_str(), "lib" | "main" | "layering") {
                continue;
            }
            let Some(own) = layer_of(&top) else {
                violations.push(format!(
                    "{}: module {top} is in no layer",
                    relative.display()
                ));
                continue;
            };
            let source = std::fs::read_to_string(&path).unwrap();
            checked += 1;
            for (line, used) in uses(&source) {
                if used == top {
                    continue;
                }
                match layer_of(&used) {
                    Some(layer) if layer < own => {}
                    _ => violations.push(format!(
                        "{}:{line}: {top} uses crate::{used}",
                        relative.display()
                    )),
                }
            }
        }
        assert!(checked > 20, "only {checked} files read");
        assert!(
            violations.is_empty(),
            "layer violations:\n{}",
            violations.join("\n")
        );
    }

    #[test]
    fn the_rule_catches_an_upward_use() {
        let found = uses("use crate::endpoints::AppState;\n// crate::grants in a comment\n");
        assert_eq!(found, vec![(1, "endpoints".to_owned())]);
        assert!(layer_of("endpoints") > layer_of("store"));
    }
}
