#!/usr/bin/env bash
# Install the Debian packages the test node and its image builds need, without starting
# any of their system services.
#
#   containerd, runc               the node's container runtime (a private instance, its
#                                  own config, started by the test kit, never the system one)
#   containernetworking-plugins    bridge + host-local IPAM + loopback CNI plugins
#   iptables                       to see (and, only if Docker left FORWARD at DROP, open)
#                                  the forwarding path of the test bridge
#   docker.io                      the image builder: a private dockerd started and stopped
#                                  by hack/build-images.sh (Debian's /usr/bin/docker client)
#   debootstrap                    the root filesystem of the Python base image
#   gcc, libc6-dev                 the static pause binary
#
# Idempotent: when every package is installed nothing runs (no apt-get update). Package
# maintainer scripts would start dockerd and containerd with their default configuration;
# a policy-rc.d that answers 101 ("action forbidden") for the duration of the install keeps
# them stopped, and on a systemd host the units of the packages installed here are
# disabled so they do not start at the next boot either. See docs/node.md.
#
# Usage: hack/provision-node.sh        (as root; prints nothing on stdout)
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables docker.io debootstrap gcc libc6-dev)
# Units that the packages above enable on a systemd host.
UNITS=(containerd.service docker.service docker.socket)

log() { printf '[provision-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || echo "$pkg"
  done
}

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=/usr/sbin/policy-rc.d.kapacitor-operator-backup

forbid_service_starts() {
  if [ -e "$POLICY" ] && [ ! -e "$POLICY_BACKUP" ]; then mv "$POLICY" "$POLICY_BACKUP"; fi
  printf '#!/bin/sh\n# Written by kapacitor-operator hack/provision-node.sh during apt-get install.\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
}

restore_policy() {
  rm -f "$POLICY"
  if [ -e "$POLICY_BACKUP" ]; then mv "$POLICY_BACKUP" "$POLICY"; fi
}

apt_install() {
  local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
  # Try with the current package lists first: an update is only needed when they are stale.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" "$@" >&2; then
    log "apt-get install failed with the current lists; running apt-get update and retrying"
    apt-get update -q -o DPkg::Lock::Timeout=600 >&2
    DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" "$@" >&2
  fi
}

disable_units() {
  # Only on a running systemd, and only the units of packages this run installed.
  [ -d /run/systemd/system ] && command -v systemctl >/dev/null || return 0
  local unit
  for unit in "${UNITS[@]}"; do
    systemctl disable "$unit" >/dev/null 2>&1 || true
  done
  log "disabled ${UNITS[*]} (they would start with their default configuration at boot)"
}

# Fails when a system dockerd or containerd runs: they would share nothing with the test
# node, but the promise of this script is that it never leaves one running.
check_no_system_daemons() {
  local pid cmd
  for pid in $(pgrep -x dockerd || true) $(pgrep -x containerd || true); do
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    case "$cmd" in
      *kapacitor-operator*) ;;  # ours: the node's containerd or the image builder's dockerd
      *) die "a system daemon is running with its default configuration (pid $pid: $cmd); stop it" ;;
    esac
  done
}

main() {
  [ "$(id -u)" = 0 ] || die "must run as root (apt-get install, and the node itself needs root)"
  command -v apt-get >/dev/null || die "needs a Debian-based system with apt-get"
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "node packages already installed: ${PACKAGES[*]}"
  else
    local start=$SECONDS
    log "installing ${missing[*]} (services are not started)"
    trap restore_policy EXIT
    forbid_service_starts
    apt_install "${missing[@]}"
    restore_policy
    trap - EXIT
    disable_units
    log "apt-get install took $((SECONDS - start))s"
  fi
  check_no_system_daemons
  log "containerd $(containerd --version 2>/dev/null | awk '{print $3}'), runc $(runc --version 2>/dev/null | awk 'NR==1 {print $3}'), docker $(/usr/bin/docker --version 2>/dev/null | awk '{print $3}' | tr -d ,)"
}

main "$@"
