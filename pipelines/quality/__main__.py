"""``python -m pipelines.quality ACTION ...``: the quality commands before the CLI wires them."""

import sys

from pipelines.quality.command import main

sys.exit(main())
