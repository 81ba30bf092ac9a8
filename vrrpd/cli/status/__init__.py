"""`vrrpctl status` as text: one table renderer (table.py), one module per table."""

from vrrpd.cli.status.render import render_status

__all__ = ["render_status"]
