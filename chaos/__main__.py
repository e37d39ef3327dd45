"""`python -m chaos`: run the chaos scenario; the exit status is 0 only when every check passed."""

import os
import sys

from chaos.runner import main

status = main()
sys.stdout.flush()
sys.stderr.flush()
# The Temporal core's threads can abort the interpreter at exit: leave with the run's own status.
os._exit(status)
