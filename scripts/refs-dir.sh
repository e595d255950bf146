# Sourced by the scripts: where the reference implementations live.
# $FERROGRAPH_REFS if set; else /opt/ferrograph-refs as root, or a
# user-writable cache directory otherwise.
if [ -z "${FERROGRAPH_REFS:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    FERROGRAPH_REFS=/opt/ferrograph-refs
  else
    FERROGRAPH_REFS="${XDG_CACHE_HOME:-$HOME/.cache}/ferrograph-refs"
  fi
fi
export FERROGRAPH_REFS
