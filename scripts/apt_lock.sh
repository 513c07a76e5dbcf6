# Sourced by scripts/install.sh: apt-get that waits for the apt/dpkg lock instead of failing at once.
# A fresh machine often runs unattended upgrades for minutes after boot; apt-get then stops with
# "Could not get lock". apt_get_waiting retries every APT_LOCK_POLL_S seconds (default 10), saying once
# that it waits, for at most APT_LOCK_WAIT_S seconds (default 900); other failures stop at once.
# Usage: apt_get_waiting [sudo] apt-get update -qq
apt_get_waiting() {
  local waited=0 told=0 poll="${APT_LOCK_POLL_S:-10}" limit="${APT_LOCK_WAIT_S:-900}" err
  err="$(mktemp)"
  until "$@" 2>"$err"; do
    if grep -qiE "could not get lock|unable to acquire the dpkg|unable to lock" "$err" && [ "$waited" -lt "$limit" ]; then
      [ "$told" = 1 ] || echo "apt is locked by another package manager (unattended upgrades on a fresh machine?): waiting up to ${limit} s for it to finish..." >&2
      told=1
      sleep "$poll"
      waited=$((waited + poll))
    else
      cat "$err" >&2
      [ "$waited" -ge "$limit" ] && echo "apt is still locked after ${limit} s; run this script again when it is free" >&2
      rm -f "$err"
      return 1
    fi
  done
  rm -f "$err"
}
