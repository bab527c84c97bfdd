import sys

from app.cli.main import entry

sys.exit(entry())
