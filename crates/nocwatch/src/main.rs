fn main() -> std::process::ExitCode {
    nocwatch::cli::main()
}
