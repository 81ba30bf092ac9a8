"""Command-line entry points: `vrrpd` (cli.daemon) and `vrrpctl` (cli.ctl), both click apps."""
