"""`make bench`: figures of the spend, purchase, read and subscription paths, each beside a
baseline measured in the same run on the same servers (only ratios travel between machines)."""

import sys

from bench.options import parse_options
from bench.runner import main

if __name__ == "__main__":
    sys.exit(main(parse_options(sys.argv[1:], __doc__)))
