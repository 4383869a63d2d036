"""The conformance tests themselves (product code: each test is a certification check)."""
