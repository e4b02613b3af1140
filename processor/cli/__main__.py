"""``python -m processor.cli``: the ``carrierwatch`` command."""

import sys

from processor.cli.main import main

sys.exit(main())
