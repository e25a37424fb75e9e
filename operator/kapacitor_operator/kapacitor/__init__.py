"""kapacitor."""
