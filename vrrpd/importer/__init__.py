"""Convert a keepalived.conf into vrrpd YAML (`vrrpctl import-keepalived`).

`syntax` reads keepalived's file format into statements with file and line; `convert` maps them onto the
vrrpd schema (through the modules of this package, which share a `model.Context`), collecting a `Message` for
everything it cannot map (a warning) or maps with a caveat (a note).
"""

from vrrpd.importer.convert import GeneratedInvalid, ImportResult, import_keepalived
from vrrpd.importer.model import Message
from vrrpd.importer.syntax import SyntaxProblem

__all__ = ["GeneratedInvalid", "ImportResult", "Message", "SyntaxProblem", "import_keepalived"]
