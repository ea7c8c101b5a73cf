"""``python -m gridderms.cli``: the ``gridderms`` command line."""

import sys

from gridderms.cli import main

sys.exit(main())
