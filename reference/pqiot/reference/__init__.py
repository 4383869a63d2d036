"""Sans-I/O reference implementation of the PQC-IIoT protocol v1.

Nothing in this package touches a socket, a file descriptor or a clock on its
own: bytes and the current time go in, bytes and events come out. Transports
live in :mod:`pqiot.transports`.
"""
