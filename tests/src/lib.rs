//! End-to-end tests live in `tests/` beside this file.
