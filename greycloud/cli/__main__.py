"""``python -m greycloud.cli`` runs the ``greycloud`` command."""

import sys

from greycloud.cli import main

sys.exit(main())
