# shellcheck shell=bash disable=SC2034  # (KEEP, HOST_CA, WORKTREE, WORK are read by the sourcing script)
# Sourced (not run) by check-fresh-host.sh and check-systemd-unit.sh, after their `set` line: what both do
# before their rootfs is built.
#
# container_options "$@": the shared options --keep, --no-host-ca, --worktree, --workdir DIR and -h/--help
# (the calling script's header comment, up to its `set` line), into KEEP, HOST_CA, WORKTREE and WORK; then
# refuses to go on unless root.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=/var/tmp/vrrpd-check
KEEP=0
HOST_CA=1
WORKTREE=0
CACHE=${VRRPD_CHECK_CACHE:-/var/cache/vrrpd-check}
CACHE_DAYS=7

container_options() {
    while (($#)); do
        case $1 in
            --keep) KEEP=1 ;;
            --no-host-ca) HOST_CA=0 ;;
            --worktree) WORKTREE=1 ;;
            --workdir) WORK=$2; shift ;;
            -h|--help) sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) echo "unknown argument: $1" >&2; exit 2 ;;
        esac
        shift
    done
    [[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
}

# systemd-nspawn and debootstrap, installed if missing.
container_tools() {
    for tool in systemd-nspawn debootstrap; do
        command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container debootstrap >/dev/null; break; }
    done
}

# The configured Debian mirror (deb822 first, then the one-line format), else deb.debian.org.
mirror() {  # $1: suite-less archive name, "debian" or "debian-security"
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -E "/$1/?\$" | head -1 || true)
    [[ -n $uri ]] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -E "/$1/?\$" | head -1 || true)
    echo "${uri:-http://deb.debian.org/$1}"
}

# debootstrap_cached ROOTFS MIRROR PACKAGES: a minbase bookworm with PACKAGES (comma-separated) in ROOTFS,
# unpacked from $CACHE when a tarball of the same package list younger than $CACHE_DAYS is there (a fresh
# debootstrap is ~40 s and ~280 MB from the mirror; the unpacking takes a few seconds), else debootstrapped
# and then stored there. Prints where it came from.
debootstrap_cached() {
    local rootfs=$1 mirror=$2 packages=$3 key tarball
    key=$(printf '%s\n' bookworm minbase "$packages" | sha256sum | cut -c1-16)
    tarball=$CACHE/bookworm-$key.tar
    rm -rf --one-file-system "$rootfs"
    if [[ -n $(find "$tarball" -mtime -"$CACHE_DAYS" 2>/dev/null) ]]; then
        mkdir -p "$rootfs" && tar -C "$rootfs" -xf "$tarball" && { echo "rootfs from the cache $tarball"; return 0; }
        rm -rf --one-file-system "$rootfs"
    fi
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >&2 || return 1
    mkdir -p "$CACHE" && tar -C "$rootfs" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
    echo "rootfs debootstrapped from $mirror (cached as $tarball)"
}

# The working tree as it is (uncommitted edits and untracked files, not ignored ones such as .venv), laid over
# the clone of HEAD at $1.
overlay_worktree() {
    git -C "$REPO" ls-files -z --cached --others --exclude-standard | tar -C "$REPO" --null -T - --ignore-failed-read -cf - | tar -C "$1" -xf -
}
