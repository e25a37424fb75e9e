"""Allow ``python -m kapacitor_operator.emulator``."""

from kapacitor_operator.emulator.server import main

if __name__ == "__main__":
    raise SystemExit(main())
