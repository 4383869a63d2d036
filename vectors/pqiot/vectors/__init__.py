"""Known-answer vectors for PQC-IIoT: primitive KATs, negative cases, protocol transcripts.

Sets are listed by :mod:`pqiot.vectors.catalog`; the file schema is described in
``vectors/README.md``. Nothing here runs at import time.
"""
