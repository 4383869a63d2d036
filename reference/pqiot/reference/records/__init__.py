"""The PQC-IIoT record layer (design decision D4): OSCORE-style records for
serial, TCP and MQTT bindings, with replay window, crash-safe sequence
numbers, usage limits and key update."""
