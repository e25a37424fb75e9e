"""Allow ``python -m kapacitor_operator``."""

from kapacitor_operator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
