#!/usr/bin/env bash
# Builds the Debian package: DIR/vrrpd_<version>_<arch>.deb (DIR: dist/ unless --out).
#
#   scripts/build-deb.sh [--out DIR] [--version VERSION] [--worktree]
#
# On Debian 12 (bookworm), as root when build dependencies are missing (they are then installed with apt).
# dh-virtualenv builds a virtualenv under /opt/venvs/vrrpd with Debian's own /usr/bin/python3 from the pinned
# dependencies in debian/requirements.txt (from PyPI; systemd-python is compiled against libsystemd), then
# vrrpd itself; the man pages, bash completion and /etc/vrrpd/vrrpd.yaml are generated from that virtualenv's
# vrrpd (debian/rules). The build runs in a fresh clone of the committed HEAD, so it never ships stray files.
#
# --version: the package version. Default: vrrpd.__version__ plus +git<commits>.<hash> from a git checkout, so
#   a package built from a later commit of main upgrades one built from an earlier one.
# --worktree: build the working tree as it is (uncommitted edits and untracked, not ignored, files), not HEAD.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/dist
VERSION=
WORKTREE=0
while (($#)); do
    case $1 in
        --out) OUT=$(realpath -m "$2"); shift ;;
        --version) VERSION=$2; shift ;;
        --worktree) WORKTREE=1 ;;
        -h|--help) sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

BUILD_DEPS=(debhelper dh-virtualenv dpkg-dev gcc python3 python3-venv python3-dev libsystemd-dev pkg-config git)
missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || { echo "build-deb: missing build dependencies (${missing[*]}); run as root" >&2; exit 1; }
    echo "build-deb: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/vrrpd-deb.XXXXXX)
trap 'rm -rf --one-file-system "$WORK"' EXIT
SRC=$WORK/vrrpd
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git clone -q "$REPO" "$SRC"
    if ((WORKTREE)); then
        git -C "$REPO" ls-files -z --cached --others --exclude-standard \
            | tar -C "$REPO" --null -T - --ignore-failed-read -cf - | tar -C "$SRC" -xf -
    fi
    HASH=$(git -C "$SRC" rev-parse --short HEAD)
    COUNT=$(git -C "$SRC" rev-list --count HEAD)
    WHEN=$(git -C "$SRC" log -1 --format=%cD)
    FROM="commit $HASH"
    ((WORKTREE)) && FROM+=" + working tree"
else
    cp -a "$REPO/." "$SRC"
    HASH= COUNT= WHEN=$(date -R) FROM="a tree without git"
fi
PYVERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/vrrpd/__init__.py")
[[ -n $PYVERSION ]] || { echo "build-deb: no __version__ in vrrpd/__init__.py" >&2; exit 1; }
if [[ -z $VERSION ]]; then
    VERSION=$PYVERSION${COUNT:++git$COUNT.$HASH}
fi
[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "build-deb: $VERSION is not a native Debian version" >&2; exit 2; }

cat > "$SRC/debian/changelog" <<EOF
vrrpd ($VERSION) unstable; urgency=medium

  * Built from $FROM by scripts/build-deb.sh.

 -- vrrpd developers <vrrpd@localhost>  $WHEN
EOF

ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
DEB=vrrpd_${VERSION}_$ARCH.deb
echo "build-deb: building $DEB from $FROM"
start=$SECONDS
if ! (cd "$SRC" && dpkg-buildpackage -us -uc -b) > "$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    mkdir -p "$OUT" && cp "$WORK/build.log" "$OUT/build-deb.log"
    echo "build-deb: dpkg-buildpackage failed (whole log: $OUT/build-deb.log)" >&2
    exit 1
fi
mkdir -p "$OUT"
cp "$WORK/$DEB" "$OUT/"
echo "build-deb: $OUT/$DEB ($(du -h "$OUT/$DEB" | cut -f1), $((SECONDS - start)) s)"
