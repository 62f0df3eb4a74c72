//! The rules of the code's shape (docs/layers.md), as data and as a test that reads
//! every source file:
//!
//! 1. **Layers.** A module uses only its own tree and the layers below it
//!    ([`LAYERS`]): no `crate::` path points up or sideways.
//! 2. **Connections are chosen in the store.** Only [`CONNECTION_CHOOSERS`] pick a
//!    pool or a connection, or use sea-orm: everything above passes the tenant and
//!    the router handle to a store function, which asks for (group, role) itself.
//! 3. **No web framework below the endpoints.** [`WITHOUT_HTTP_FRAMEWORK`] import
//!    neither axum nor hyper: the HTTP layer hands them plain values.
//! 4. **No import circles** between files. A file may use its own module's parent
//!    (the `mod.rs` that declares it) and the parent re-exports its children; every
//!    other pair of files that use each other, directly or round a longer loop, fails.
//!
//! Each rule has a self-test showing it can fail.

/// Top-level modules from the bottom layer up; modules on one line are one layer and
/// do not use each other.
pub const LAYERS: &[&[&str]] = &[
    &["error", "time", "metrics"],
    &[
        "syntax",
        "secrets",
        "network",
        "application_fields",
        "route_names",
    ],
    &["registration"],
    &["settings"],
    &["config"],
    &["shared"],
    &["group_commit"],
    &["routing", "db", "telemetry", "pages", "cache"],
    &["tenancy"],
    &["store"],
    &["limits", "jose", "policy"],
    &["state"],
    &["oauth"],
    &["grants", "administration"],
    &["endpoints"],
    &["connections"],
    &["startup"],
    &["cli"],
];

/// The modules that may choose a connection or use sea-orm: the store, the pools and
/// the tenant directory below it, startup (migrations, the directory at start), and
/// the crate's error type (which wraps sea-orm's). Everything else is above the
/// store or does not touch a database.
pub const CONNECTION_CHOOSERS: &[&str] = &[
    "error",
    "group_commit",
    "db",
    "routing",
    "tenancy",
    "store",
    "startup",
];

/// What picking a connection looks like in code: a pool, the directory, the SQLite
/// writer turn, or sea-orm itself (whose queries belong in `store/`).
pub const CONNECTION_CHOICES: &[&str] = &[
    ".pool(",
    ".directory()",
    "writer_queue(",
    ".connection(",
    "sea_orm::",
    "DatabaseConnection",
];

/// Modules that must not know the web framework.
pub const WITHOUT_HTTP_FRAMEWORK: &[&str] = &["oauth", "grants", "store"];

/// The web framework's crates.
pub const HTTP_FRAMEWORK: &[&str] = &["axum::", "hyper::", "tower::", "tower_http::"];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::{
        CONNECTION_CHOICES, CONNECTION_CHOOSERS, HTTP_FRAMEWORK, LAYERS, WITHOUT_HTTP_FRAMEWORK,
    };

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// A source file: its module path (`oauth::authorize::begin`) and its code
    /// without comments, by line.
    struct SourceFile {
        relative: String,
        module: Vec<String>,
        lines: Vec<String>,
        /// The first line of an inline module (`mod tests {`), where `super::`
        /// starts to mean this file's module.
        inline_module: Option<(usize, String)>,
    }

    impl SourceFile {
        fn new(relative: &str, source: &str) -> Self {
            let mut module: Vec<String> = relative
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            let lines: Vec<String> = source.lines().map(code_of).collect();
            let inline_module = lines.iter().enumerate().find_map(|(index, line)| {
                let declaration = line.trim_start().trim_start_matches("pub ");
                let name = declaration.strip_prefix("mod ")?.strip_suffix(" {")?;
                Some((index + 1, name.to_owned()))
            });
            Self {
                relative: relative.to_owned(),
                module,
                lines,
                inline_module,
            }
        }

        fn top(&self) -> &str {
            &self.module[0]
        }
    }

    /// A line without its comment (`//` outside a string literal).
    fn code_of(line: &str) -> String {
        let mut in_string = false;
        let mut previous = ' ';
        for (index, character) in line.char_indices() {
            match character {
                '"' if previous != '\\' => in_string = !in_string,
                '/' if !in_string && previous == '/' => return line[..index - 1].to_owned(),
                _ => {}
            }
            previous = character;
        }
        line.to_owned()
    }

    /// Every path of the code into the crate, absolute and braces expanded:
    /// `crate::a::{b, c::d}` → `a::b`, `a::c::d`; `super::e` in `x/y.rs` → `x::e`.
    /// With its line number.
    fn crate_paths(file: &SourceFile) -> Vec<(usize, Vec<String>)> {
        let text = file.lines.join("\n");
        let mut found = Vec::new();
        let mut position = 0;
        while position < text.len() {
            let rest = &text[position..];
            let preceded = text[..position]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            let (base, after) = if preceded {
                (None, rest)
            } else if let Some(after) = rest.strip_prefix("crate::") {
                (Some(Vec::new()), after)
            } else if rest.starts_with("super::") {
                let line = text[..position].matches('\n').count() + 1;
                let mut after = rest;
                let mut base = file.module.clone();
                if let Some((first, name)) = &file.inline_module
                    && line >= *first
                {
                    base.push(name.clone());
                }
                while let Some(next) = after.strip_prefix("super::") {
                    base.pop();
                    after = next;
                }
                (Some(base), after)
            } else {
                (None, rest)
            };
            match base {
                Some(base) => {
                    let line = text[..position].matches('\n').count() + 1;
                    for tail in expand(after) {
                        let mut path = base.clone();
                        path.extend(tail);
                        found.push((line, path));
                    }
                    position = text.len() - after.len();
                }
                None => {
                    position += rest.chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        found
    }

    /// The paths at the start of `text`: `a::b`, or `a::{b, c::{d}}` expanded.
    fn expand(text: &str) -> Vec<Vec<String>> {
        let mut prefix = Vec::new();
        let mut rest = text;
        loop {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                break;
            }
            rest = &rest[name.len()..];
            prefix.push(name);
            if let Some(next) = rest.strip_prefix("::") {
                rest = next;
            } else {
                return vec![prefix];
            }
        }
        let Some(inner) = rest.strip_prefix('{') else {
            return if prefix.is_empty() {
                Vec::new()
            } else {
                vec![prefix]
            };
        };
        let mut depth = 1;
        let mut end = inner.len();
        for (index, character) in inner.char_indices() {
            match character {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = index;
                        break;
                    }
                }
                _ => {}
            }
        }
        let mut paths = Vec::new();
        for item in split_top_level(&inner[..end]) {
            let item = item.trim();
            if item.is_empty() || item == "self" {
                paths.push(prefix.clone());
                continue;
            }
            for tail in expand(item) {
                let mut path = prefix.clone();
                path.extend(tail);
                paths.push(path);
            }
        }
        paths
    }

    fn split_top_level(text: &str) -> Vec<&str> {
        let mut parts = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (index, character) in text.char_indices() {
            match character {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..index]);
                    start = index + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        parts
    }

    /// Rule 1: each `crate::` path pointing up or sideways.
    fn layer_violations(file: &SourceFile) -> Vec<String> {
        let Some(own) = layer_of(file.top()) else {
            return vec![format!(
                "{}: module {} is in no layer",
                file.relative,
                file.top()
            )];
        };
        crate_paths(file)
            .into_iter()
            .filter(|(_, path)| path.first().is_some_and(|top| top != file.top()))
            .filter(|(_, path)| layer_of(&path[0]).is_none_or(|layer| layer >= own))
            .map(|(line, path)| {
                format!(
                    "{}:{line}: {} uses crate::{}",
                    file.relative,
                    file.top(),
                    path[0]
                )
            })
            .collect()
    }

    /// Rules 2 and 3: a forbidden pattern in a module that may not use it.
    fn pattern_violations(
        file: &SourceFile,
        applies: bool,
        patterns: &[&str],
        what: &str,
    ) -> Vec<String> {
        if !applies {
            return Vec::new();
        }
        let mut found = Vec::new();
        for (index, line) in file.lines.iter().enumerate() {
            for pattern in patterns {
                if line.contains(pattern) {
                    found.push(format!(
                        "{}:{}: {what} ({pattern})",
                        file.relative,
                        index + 1
                    ));
                }
            }
        }
        found
    }

    fn connection_violations(file: &SourceFile) -> Vec<String> {
        pattern_violations(
            file,
            !CONNECTION_CHOOSERS.contains(&file.top()),
            CONNECTION_CHOICES,
            "picks a connection above the store: call a store function",
        )
    }

    fn framework_violations(file: &SourceFile) -> Vec<String> {
        pattern_violations(
            file,
            WITHOUT_HTTP_FRAMEWORK.contains(&file.top()),
            HTTP_FRAMEWORK,
            "uses the web framework below the endpoints: take plain values",
        )
    }

    /// The files each path of `file` into the crate names: the longest module path of
    /// `modules` it starts with, and when that module has children, every file of
    /// its tree (a `mod.rs` re-exports what its children define). A file's own tree
    /// and its ancestors are left out (a parent declares and re-exports its
    /// children; a child uses its parent).
    fn imports(file: &SourceFile, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
        let related =
            |other: &Vec<String>| other.starts_with(&file.module) || file.module.starts_with(other);
        let mut targets = BTreeSet::new();
        for (_, path) in crate_paths(file) {
            let target = (1..=path.len())
                .rev()
                .map(|length| path[..length].to_vec())
                .find(|prefix| modules.contains(prefix));
            let Some(target) = target.filter(|target| !related(target)) else {
                continue;
            };
            targets.extend(
                modules
                    .iter()
                    .filter(|module| module.starts_with(&target) && !related(module))
                    .cloned(),
            );
        }
        targets
    }

    /// Rule 4: each circle of the graph, as its files in order.
    fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
        // Tarjan's strongly connected components: any component of more than one
        // file is a circle.
        struct Search<'a> {
            graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            index: BTreeMap<&'a Vec<String>, usize>,
            low: BTreeMap<&'a Vec<String>, usize>,
            stack: Vec<&'a Vec<String>>,
            on_stack: BTreeSet<&'a Vec<String>>,
            components: Vec<Vec<&'a Vec<String>>>,
        }
        impl<'a> Search<'a> {
            fn visit(&mut self, node: &'a Vec<String>) {
                let number = self.index.len();
                self.index.insert(node, number);
                self.low.insert(node, number);
                self.stack.push(node);
                self.on_stack.insert(node);
                for next in self.graph.get(node).into_iter().flatten() {
                    let Some((next, _)) = self.graph.get_key_value(next) else {
                        continue;
                    };
                    if !self.index.contains_key(next) {
                        self.visit(next);
                        let low = self.low[node].min(self.low[next]);
                        self.low.insert(node, low);
                    } else if self.on_stack.contains(next) {
                        let low = self.low[node].min(self.index[next]);
                        self.low.insert(node, low);
                    }
                }
                if self.low[node] == self.index[node] {
                    let mut component = Vec::new();
                    while let Some(member) = self.stack.pop() {
                        self.on_stack.remove(member);
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        self.components.push(component);
                    }
                }
            }
        }
        let mut search = Search {
            graph,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for node in graph.keys() {
            if !search.index.contains_key(node) {
                search.visit(node);
            }
        }
        let mut found: Vec<String> = search
            .components
            .into_iter()
            .map(|component| {
                let mut names: Vec<String> =
                    component.iter().map(|module| module.join("::")).collect();
                names.sort();
                format!("import circle: {}", names.join(" ↔ "))
            })
            .collect();
        found.sort();
        found
    }

    fn read_sources() -> Vec<SourceFile> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut pending = vec![root.clone()];
        let mut files = Vec::new();
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    pending.push(entry.unwrap().path());
                }
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if matches!(relative.as_str(), "lib.rs" | "main.rs" | "layering.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            files.push(SourceFile::new(&relative, &source));
        }
        files
    }

    fn graph_of(files: &[SourceFile]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let modules: BTreeSet<Vec<String>> = files.iter().map(|file| file.module.clone()).collect();
        files
            .iter()
            .map(|file| (file.module.clone(), imports(file, &modules)))
            .collect()
    }

    #[test]
    fn the_code_keeps_the_stated_rules() {
        let files = read_sources();
        assert!(files.len() > 60, "only {} files read", files.len());
        let mut violations = Vec::new();
        for file in &files {
            violations.extend(layer_violations(file));
            violations.extend(connection_violations(file));
            violations.extend(framework_violations(file));
        }
        violations.extend(circles(&graph_of(&files)));
        assert!(
            violations.is_empty(),
            "rule violations (docs/layers.md):\n{}",
            violations.join("\n")
        );
    }

    #[test]
    fn the_layer_rule_catches_an_upward_use() {
        let file = SourceFile::new(
            "store/example.rs",
            "use crate::endpoints::AppState;\n// crate::grants in a comment\nuse crate::{time::now, oauth::form::Form};\nlet x = crate::tenancy::load();",
        );
        let found = layer_violations(&file);
        assert_eq!(
            found,
            vec![
                "store/example.rs:1: store uses crate::endpoints".to_owned(),
                "store/example.rs:3: store uses crate::oauth".to_owned(),
            ]
        );
    }

    #[test]
    fn the_connection_rule_catches_a_pool_above_the_store() {
        let code = "let db = state.databases.pool(&name)?;\nuse sea_orm::ConnectionTrait;";
        let above = SourceFile::new("oauth/example.rs", code);
        assert_eq!(connection_violations(&above).len(), 2);
        let inside = SourceFile::new("store/example.rs", code);
        assert!(connection_violations(&inside).is_empty());
        let comment = SourceFile::new("grants/example.rs", "// see databases.pool(name)");
        assert!(connection_violations(&comment).is_empty());
    }

    #[test]
    fn the_framework_rule_catches_axum_in_the_protocol() {
        let code = "use axum::http::HeaderMap;";
        assert_eq!(
            framework_violations(&SourceFile::new("oauth/form.rs", code)).len(),
            1
        );
        assert_eq!(
            framework_violations(&SourceFile::new("grants/mod.rs", "use hyper::Body;")).len(),
            1
        );
        assert!(framework_violations(&SourceFile::new("endpoints/form.rs", code)).is_empty());
    }

    #[test]
    fn the_circle_rule_catches_a_circle_and_spares_parents() {
        let files = [
            SourceFile::new("endpoints/a.rs", "use crate::endpoints::b::x;"),
            SourceFile::new("endpoints/b.rs", "use crate::endpoints::c::{y, z};"),
            SourceFile::new("endpoints/c.rs", "fn f() { crate::endpoints::a::g() }"),
            SourceFile::new(
                "oauth/flow/mod.rs",
                "pub use crate::oauth::flow::step::run;",
            ),
            SourceFile::new("oauth/flow/step.rs", "use crate::oauth::flow::State;"),
            SourceFile::new(
                "oauth/flow/left.rs",
                "use super::right::R;\n#[cfg(test)]\nmod tests {\n    use super::super::right::Q;\n    use super::L;\n}",
            ),
            SourceFile::new("oauth/flow/right.rs", "use super::{left::L, State};"),
            SourceFile::new("oauth/user.rs", "use crate::oauth::flow::run;"),
            SourceFile::new("oauth/flow/deep.rs", "use crate::oauth::user::User;"),
        ];
        let found = circles(&graph_of(&files));
        assert_eq!(
            found,
            vec![
                "import circle: endpoints::a ↔ endpoints::b ↔ endpoints::c".to_owned(),
                "import circle: oauth::flow::deep ↔ oauth::user".to_owned(),
                "import circle: oauth::flow::left ↔ oauth::flow::right".to_owned(),
            ]
        );
    }

    #[test]
    fn paths_expand_through_braces() {
        let paths = expand("a::{b, c::{d, self}, e::f}; rest");
        let joined: Vec<String> = paths.iter().map(|path| path.join("::")).collect();
        assert_eq!(joined, vec!["a::b", "a::c::d", "a::c", "a::e::f"]);
    }
}
