#!/usr/bin/env python3
"""V-Mitra bot: run the bot (no arguments) or an admin subcommand (see --help)."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
