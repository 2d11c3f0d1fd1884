//! How fast demand text is understood: every phrasing of the test table,
//! parsed repeatedly with the built-in catalogue. Prints phrases per second;
//! asserts nothing about speed. Run: `cargo bench -p shared --bench demand_parse`.

use std::hint::black_box;
use std::time::Instant;

use shared::domain::demand::parse_demand_text;

const TABLE: &str = include_str!("../tests/phrasings.tsv");
const ROUNDS: usize = 2_000;

fn main() {
    let phrases: Vec<String> = TABLE
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t').map(|(input, _)| input.replace("\\n", "\n")))
        .collect();
    // Warm up: loads and indexes the catalogue once, as start-up does.
    for phrase in &phrases {
        let _ = black_box(parse_demand_text(phrase));
    }
    let started = Instant::now();
    let mut items = 0;
    for _ in 0..ROUNDS {
        for phrase in &phrases {
            items += parse_demand_text(black_box(phrase)).map_or(0, |i| i.len());
        }
    }
    let elapsed = started.elapsed();
    let parsed = phrases.len() * ROUNDS;
    println!(
        "demand_parse: {parsed} phrases ({items} items) in {:.2} s: {:.0} phrases/s, {:.1} µs per phrase",
        elapsed.as_secs_f64(),
        parsed as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / parsed as f64
    );
}
