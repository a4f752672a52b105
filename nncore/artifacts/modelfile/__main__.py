"""`python -m nncore.artifacts.modelfile PATH MEMORY_BYTES`: the checking child of
`validate_in_subprocess`."""

import sys

from nncore.artifacts.modelfile.isolation import check_main

sys.exit(check_main(*sys.argv[1:]))
