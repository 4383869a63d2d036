"""The Test Agent Protocol (spec chapter 13), sans-I/O: codes, message codec, reference agent."""
