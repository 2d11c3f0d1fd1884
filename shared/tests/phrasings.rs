//! The phrasing table (`phrasings.tsv`): real ways customers write a demand,
//! each with the exact list it must give. Prints how many pass.

use shared::domain::demand::{DemandItem, ItemStatus, parse_demand_text};

const TABLE: &str = include_str!("phrasings.tsv");

/// An item as the table writes it: the English announcement's words, with
/// "~" for uncertain and "!" for unmatched.
fn render(item: &DemandItem) -> String {
    let mark = match item.status {
        ItemStatus::Matched => "",
        ItemStatus::Uncertain => "~",
        ItemStatus::Unmatched => "!",
    };
    format!("{mark}{item}")
}

fn cases() -> Vec<(usize, String, String)> {
    TABLE
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (input, expected) = l.split_once('\t').unwrap_or((l, ""));
            (i + 1, input.replace("\\n", "\n"), expected.trim().to_string())
        })
        .collect()
}

#[test]
fn every_phrasing_gives_its_exact_list() {
    let cases = cases();
    assert!(cases.len() >= 500, "the table holds {} phrasings", cases.len());
    let mut failures = Vec::new();
    for (line, input, expected) in &cases {
        let got = match parse_demand_text(input) {
            Ok(items) => items.iter().map(render).collect::<Vec<_>>().join(" | "),
            Err(e) => format!("error: {e}"),
        };
        if &got != expected {
            failures.push(format!(
                "line {line}: {input:?}\n   expected {expected}\n   got      {got}"
            ));
        }
    }
    println!("phrasings: {} of {} pass", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
