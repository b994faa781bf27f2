import sys

from pipelines.collector.service import main

sys.exit(main())
