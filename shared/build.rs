//! The web apps under `web/` are embedded with `include_dir!`, which does not
//! see new files: a change anywhere under `web/` rebuilds this crate.
fn main() {
    println!("cargo:rerun-if-changed=../web");
}
