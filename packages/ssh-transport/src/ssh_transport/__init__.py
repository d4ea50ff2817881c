"""SSH2 transport: a protocol core without I/O and a threaded ``Transport`` driver."""
