/// mimalloc instead of glibc's malloc: a syslog line becomes a log event of some 40 small
/// allocations (the attribute tree), allocated on the source's thread and freed on the
/// sink's. glibc spends about a third of the agent's CPU on them, partly waiting on its arena
/// lock; mimalloc's thread-local free lists do not (see BENCHMARKS.md, syslog receive).
///
/// Without transparent huge pages: mimalloc reserves a 1 GiB arena and, by default, asks
/// the kernel to back it with 2 MiB pages; the kernel then makes a whole 2 MiB page
/// resident for a few live objects in it. Polling 1,000 devices, that was 30 MiB of an
/// 86 MiB peak RSS, 56 MiB without (BENCHMARKS.md, SNMP polling).
/// The crate feature `no_thp` stops mimalloc asking; the prctl below also keeps a host
/// whose THP setting is `always` from imposing them (before any thread starts, for the
/// whole process).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    {
        // Best effort: a kernel without PR_SET_THP_DISABLE only costs memory.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
    nocwatch::cli::main()
}
