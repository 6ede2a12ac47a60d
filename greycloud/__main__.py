"""``python -m greycloud`` runs the ``greycloud`` command."""

import sys

from greycloud.cli import main

sys.exit(main())
