"""``make demo``: the end-to-end story on the embedded chain + SQLite. Grows with every issue."""

from __future__ import annotations


def main() -> None:
    print("livetrust demo: nothing to show yet")


if __name__ == "__main__":
    main()
