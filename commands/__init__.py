"""Domain commands: one function per user action (order a brief, create a mailing, submit pages …),
owning its transaction, called alike by the dashboard, the CLI, the flows, the demo and the benchmarks."""
