/// mimalloc instead of glibc's malloc: a syslog line becomes a log event of some 40 small
/// allocations (the attribute tree), allocated on the source's thread and freed on the
/// sink's. glibc spends about a third of the agent's CPU on them, partly waiting on its arena
/// lock; mimalloc's thread-local free lists do not (see BENCHMARKS.md, syslog receive).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    nocwatch::cli::main()
}
