//! No import loops between the crate's modules: reads every `use` of
//! `shared/src` (test code aside), resolves it to the module (file) that
//! defines the name, following a parent's `pub use` re-exports to the child
//! that holds the item, and fails naming the loop if any module reaches
//! itself. A parent declaring or re-exporting its own children is
//! containment, not a dependency, and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;
/// A file's module, whether it is a folder's `mod.rs`, and its uses.
type ParsedFile = (Module, bool, Vec<(bool, String)>);

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `domain/order/state.rs` is `[domain, order, state]`; `mod.rs` and
/// `lib.rs` name their folder.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The `use` statements of a file's non-test code, each expanded into full
/// paths (`a::{b, c::d}` is `a::b` and `a::c::d`), with whether it is a
/// `pub use`.
fn uses(text: &str) -> Vec<(bool, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let prefix = before[line_start..].trim();
        let is_statement = prefix.is_empty() || prefix == "pub" || prefix.starts_with("pub(");
        let Some(end) = rest[at..].find(';') else { break };
        let statement = rest[at + 4..at + end].split_whitespace().collect::<Vec<_>>().join(" ");
        if is_statement && !statement.contains('"') {
            for path in expand(&statement) {
                out.push((prefix.starts_with("pub"), path));
            }
        }
        rest = &rest[at + end..];
    }
    out.extend(inline_paths(code).into_iter().map(|path| (false, path)));
    out
}

/// Paths written in code rather than imported (`super::spec::openapi(..)`,
/// `crate::domain::clock::SystemClock`): comments and strings aside.
fn inline_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") || line.starts_with("use ") || line.starts_with("pub use ") {
            continue;
        }
        // Drop string literals, roughly: text between quotes.
        let code: String = line.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(at) = code[from..].find(start) {
                let at = from + at;
                let before = code[..at].chars().last();
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                    let path: String = code[at..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    paths.push(path.trim_end_matches(':').to_string());
                }
                from = at + start.len();
            }
        }
    }
    paths
}

fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()];
    };
    let base = tree[..open].trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{base}{e}")))
        .collect()
}

/// The module a path's item lives in, from inside `current`, or `None`
/// outside the crate. `self` is the current module and `super` its parent
/// (a `mod.rs` is its folder's module); a bare first segment is a child of
/// the current module, else another crate.
fn resolve(
    path: &str,
    current: &Module,
    modules: &BTreeSet<Module>,
    reexports: &BTreeMap<(Module, String), Module>,
) -> Option<Module> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut at: Module = match segments.peek().copied()? {
        "crate" => Vec::new(),
        "self" => current.clone(),
        "super" => current.clone(),
        first => {
            let mut child = current.clone();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            current.clone()
        }
    };
    while let Some(&segment) = segments.peek() {
        match segment {
            "crate" | "self" => {}
            "super" => {
                at.pop();
            }
            _ => break,
        }
        segments.next();
    }
    for segment in segments {
        let mut deeper = at.clone();
        deeper.push(segment.to_string());
        if modules.contains(&deeper) {
            at = deeper;
        } else {
            return Some(reexports.get(&(at.clone(), segment.to_string())).cloned().unwrap_or(at));
        }
    }
    Some(at)
}

fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node)
            && let Some(cycle) = visit(node, edges, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let parsed: Vec<ParsedFile> = files
        .iter()
        .map(|f| {
            let folder = f.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs");
            (
                module_of(&src, f),
                folder,
                uses(&std::fs::read_to_string(f).expect("read")),
            )
        })
        .collect();
    // A folder's `pub use child::Item` sends `folder::Item` to the child.
    let mut reexports = BTreeMap::new();
    for (module, _, uses) in parsed.iter().filter(|(_, folder, _)| *folder) {
        for (_, path) in uses.iter().filter(|(public, _)| *public) {
            let Some(item) = path.rsplit("::").next() else { continue };
            if let Some(target) = resolve(path, module, &modules, &BTreeMap::new())
                && target.starts_with(module)
                && &target != module
            {
                reexports.insert((module.clone(), item.to_string()), target);
            }
        }
    }
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut counted = 0;
    for (module, _, uses) in &parsed {
        for (_, path) in uses {
            let Some(target) = resolve(path, module, &modules, &reexports) else {
                continue;
            };
            // Itself, or its own child: containment, not a dependency.
            if target.starts_with(module) {
                continue;
            }
            counted += 1;
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(counted > 100, "the imports were read ({counted} found)");
    let cycle = find_cycle(&edges).map(|c| c.iter().map(|m| m.join("::")).collect::<Vec<_>>().join(" -> "));
    assert_eq!(cycle, None, "an import loop");
    println!(
        "module graph: {} modules, {} import edges between them, no loop",
        modules.len(),
        edges.values().map(BTreeSet::len).sum::<usize>()
    );
}

#[test]
fn the_checker_finds_a_loop_when_there_is_one() {
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(find_cycle(&edges), Some(vec![a.clone(), b, a]));
    assert_eq!(
        expand("super::{a::B, c::{d, e as f}}"),
        ["super::a::B", "super::c::d", "super::c::e"]
    );
}
