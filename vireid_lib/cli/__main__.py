"""``python -m vireid_lib.cli``: the ``vireid`` command."""

import sys

from vireid_lib.cli import main

sys.exit(main())
