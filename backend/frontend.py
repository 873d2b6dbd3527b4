"""The trading page: `frontend/` served at `/`, and its browser libraries under `/vendor/`.

The page is plain HTML and ES modules with no build step, so the files are served as they are.
Libraries come from the npm packages installed in `node_modules` (pinned in package.json and
package-lock.json); only the files listed in `VENDOR_FILES` are reachable, never the rest of
`node_modules`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory
from flask.typing import ResponseReturnValue

ROOT = Path(__file__).resolve().parent.parent
PAGE_DIR = ROOT / "frontend"
NODE_MODULES = ROOT / "node_modules"

# URL name under /vendor/ -> file inside node_modules.
VENDOR_FILES = {
    "ethers.min.js": "ethers/dist/ethers.min.js",
}

bp = Blueprint("frontend", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return page_file("index.html")


@bp.get("/<path:name>")
def page_file(name: str) -> ResponseReturnValue:
    # send_from_directory refuses paths that leave PAGE_DIR.
    response = send_from_directory(PAGE_DIR, name)
    # The page's modules change together; always revalidate so a reload never mixes versions.
    response.cache_control.no_cache = True
    return response


@bp.get("/vendor/<name>")
def vendor_file(name: str) -> ResponseReturnValue:
    if name not in VENDOR_FILES:
        abort(404)
    path = NODE_MODULES / VENDOR_FILES[name]
    if not path.is_file():
        abort(404, description=f"{path} is missing: run `make setup` to install the npm packages")
    return send_from_directory(path.parent, path.name, mimetype="text/javascript")
