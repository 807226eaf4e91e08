import sys

from dln.cli.main import main

sys.exit(main())
