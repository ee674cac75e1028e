//! Micro-benchmark of the codec (filled in with the 50-varbind Response figures).

fn main() {}
