"""Quality and representativeness gate: Great Expectations suites run on the protected lake.

Light on purpose (DAG files may import it): Great Expectations is imported only by the
modules that run it. Importing this package switches GX's usage statistics off for the
process, before GX is ever imported (the machines have no internet; nothing may call home).
"""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
