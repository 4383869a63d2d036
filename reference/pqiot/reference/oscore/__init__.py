"""OSCORE (RFC 8613) for the CoAP binding, plus the pieces the record layer reuses.

Security context derivation, AEAD nonce, the OSCORE option value, a minimal
CoAP codec and request/response protection, and the EDHOC → OSCORE mapping
of RFC 9528 Appendix A.1.
"""
