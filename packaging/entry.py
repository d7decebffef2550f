"""PyInstaller's entry script: the frozen ``cockpit`` runs what the console script runs.

Not ``cockpit/__main__.py``: an entry script's folder goes on the analysis path, and the
package's own folder there would let its modules be found under wrong top-level names.
"""

import sys

from cockpit.cli import main

if __name__ == "__main__":
    sys.exit(main())
