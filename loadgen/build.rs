//! The optimisation level the benchmark was built at, for its report: its
//! figures depend on it (docs/performance.md, "How to run").
fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "?".into());
    println!("cargo:rustc-env=LOADGEN_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
