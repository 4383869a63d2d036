"""Live-device fuzzing: mutated protocol traffic sent to a target through the HIL harness."""
