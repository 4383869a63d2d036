"""Hardware-in-the-loop side of pqiot: talking to devices under test (spec chapter 13)."""
