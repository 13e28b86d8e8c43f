//! Benchmark support (filled in below).
