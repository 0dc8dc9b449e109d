"""``python -m labeling_labs [fetch|verify]``: fetch and verify the course's resources."""

import sys

from labeling_labs.resources import main

sys.exit(main())
