"""``python -m ebm_engine``: the headless command line (see ``ebm_engine.cli``)."""
import sys

from ebm_engine.cli import main

sys.exit(main())
