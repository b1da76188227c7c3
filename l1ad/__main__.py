import sys

from l1ad.cli import main

sys.exit(main())
