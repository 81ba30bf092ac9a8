"""The tables of `vrrpctl status`, one module each."""
