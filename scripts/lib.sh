# Shell functions shared by the project's scripts (sourced, not run). The sourcing script defines
# log MESSAGE and die MESSAGE first.

apt_install() { # apt_install PACKAGE...: installs Debian packages, or says how to when it cannot.
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    die "need Debian packages: $*; install them as root: apt-get install -y $*"
  fi
  local s=""; [ "$(id -u)" != 0 ] && s=sudo
  log "installing Debian packages: $*"
  if ! $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    $s apt-get update -qq >/dev/null 2>&1 || true
    $s env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
      die "could not install $*; run: apt-get update && apt-get install -y $*"
  fi
}
