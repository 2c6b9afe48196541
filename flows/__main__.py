import sys

from lmforge.flows.cli import main

sys.exit(main())
