"""``python -m minigan ...`` runs the ``minigan`` command."""

import sys

from minigan.cli import main

sys.exit(main())
