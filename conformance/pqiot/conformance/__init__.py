"""The conformance suite and certification machinery (``pqiot certify``, spec chapter 14).

Requirements come from the spec, verdicts from tests that name the REQ IDs they
check, applicability from the target's conformance statement; reports and a
signed evidence bundle go to one output directory.
"""
