"""``python -m cockpit``: the same entry as the ``cockpit`` console script."""

import sys

from cockpit.cli import main

if __name__ == "__main__":
    sys.exit(main())
