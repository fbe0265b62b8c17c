"""Use cases: ingest, replay and process, wiring the core to the adapters."""
