import sys

from swinprof.cli.main import main

sys.exit(main())
