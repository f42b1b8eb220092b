"""``python -m resilience.shop`` runs the ``shop`` CLI."""

from resilience.shop.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
