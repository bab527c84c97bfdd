#!/usr/bin/env bash
# Sets up the "SwapCast" virtual camera on Linux (v4l2loopback).
#   sudo installers/linux/setup_v4l2loopback.sh [--dry-run] [--label NAME] [--video-nr N] [--no-persist]
# Installs v4l2loopback (apt, dnf or pacman), loads it as /dev/video10 labelled "SwapCast" with
# exclusive_caps=1 (Chrome/WebRTC apps need it), and makes that survive a reboot. --dry-run prints
# every command and file it would write, and changes nothing.
set -euo pipefail

DRY_RUN=0
PERSIST=1
LABEL="SwapCast"
VIDEO_NR=10
MODULES_LOAD_CONF=/etc/modules-load.d/swapcast.conf
MODPROBE_CONF=/etc/modprobe.d/swapcast.conf

while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --no-persist) PERSIST=0 ;;
        --label) LABEL="${2:?--label needs a name}"; shift ;;
        --video-nr) VIDEO_NR="${2:?--video-nr needs a number}"; shift ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup_v4l2loopback: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$VIDEO_NR" =~ ^[0-9]+$ ]] || { echo "setup_v4l2loopback: --video-nr must be a number" >&2; exit 2; }
[[ "$LABEL" != *'"'* ]] || { echo "setup_v4l2loopback: --label must not contain quotes" >&2; exit 2; }

# The quotes are part of the value the kernel parses, so a label with spaces stays one parameter.
OPTIONS=(devices=1 "video_nr=$VIDEO_NR" "card_label=\"$LABEL\"" exclusive_caps=1)
DEVICE="/dev/video$VIDEO_NR"

say() { printf 'setup_v4l2loopback: %s\n' "$*"; }
die() { printf 'setup_v4l2loopback: ERROR: %s\n' "$*" >&2; exit 1; }

# run CMD...: runs it, or in a dry run prints it as the shell line it stands for.
run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

# write_file PATH CONTENT: writes (or in a dry run shows) a configuration file.
write_file() {
    if [[ "$DRY_RUN" == 1 ]]; then
        printf '+ write %s:\n%s\n' "$1" "$2"
    else
        mkdir -p "$(dirname "$1")"
        printf '%s\n' "$2" > "$1"
        say "wrote $1"
    fi
}

if [[ "$DRY_RUN" == 0 && "$(id -u)" != 0 ]]; then
    die "this changes kernel modules and /etc: run it with sudo (or try --dry-run to see what it does)"
fi
[[ "$DRY_RUN" == 1 ]] && say "dry run: nothing will be changed"

module_available() { modinfo v4l2loopback >/dev/null 2>&1; }
module_loaded() { [[ -d /sys/module/v4l2loopback ]]; }
# Prints the /dev path of the loopback device labelled $LABEL, if there is one.
labelled_device() {
    local name
    for name in /sys/class/video4linux/video*/name; do
        [[ -r "$name" ]] || continue
        if [[ "$(cat "$name")" == "$LABEL" ]]; then
            basename "$(dirname "$name")" | sed 's|^|/dev/|'
            return 0
        fi
    done
    return 1
}

secure_boot_help() {
    local key=""
    for candidate in /var/lib/dkms/mok.pub /var/lib/shim-signed/mok/MOK.der /etc/pki/akmods/certs/public_key.der; do
        [[ -f "$candidate" ]] && { key="$candidate"; break; }
    done
    cat >&2 <<HELP
setup_v4l2loopback: Secure Boot refused the module ("Key was rejected by service").
  The kernel only loads modules signed by a key it trusts; DKMS/akmods signed v4l2loopback with a
  key of this machine that is not enrolled yet. Enrol it once:
    sudo mokutil --import ${key:-/var/lib/dkms/mok.pub}     (choose a one-time password)
    reboot, pick "Enroll MOK" -> "Continue" -> "Yes" in the blue MOK manager, type that password
    then run this script again.
  (Or switch Secure Boot off in the firmware settings.)
HELP
}

install_packages() {
    local kernel
    kernel="$(uname -r)"
    if command -v apt-get >/dev/null 2>&1; then
        run apt-get update || die "apt-get update failed (offline?)"
        run apt-get install -y v4l2loopback-dkms v4l2loopback-utils \
            || die "apt-get could not install v4l2loopback-dkms v4l2loopback-utils (see above)"
        # DKMS builds the module against the running kernel's headers; custom kernels may lack a package.
        run apt-get install -y "linux-headers-$kernel" \
            || say "warning: no linux-headers-$kernel package; if the module does not build, install your kernel's headers"
    elif command -v dnf >/dev/null 2>&1; then
        say "Fedora: akmod-v4l2loopback comes from RPM Fusion (https://rpmfusion.org/Configuration)"
        run dnf install -y akmod-v4l2loopback v4l2loopback || die "dnf could not install akmod-v4l2loopback (is RPM Fusion enabled?)"
        run akmods --force --kernels "$kernel" || die "akmods could not build v4l2loopback for $kernel (see above)"
    elif command -v pacman >/dev/null 2>&1; then
        run pacman -S --needed --noconfirm v4l2loopback-dkms v4l2loopback-utils linux-headers \
            || die "pacman could not install v4l2loopback-dkms (see above)"
    elif [[ "$DRY_RUN" == 1 ]]; then
        say "no apt-get, dnf or pacman here: v4l2loopback would have to be installed by hand"
    else
        die "no apt-get, dnf or pacman here: install v4l2loopback with your package manager, then run this again"
    fi
}

# A dry run shows the whole set-up from scratch, after saying what is already in place.
if module_available; then
    say "v4l2loopback is installed"
    if [[ "$DRY_RUN" == 1 ]]; then install_packages; fi
else
    install_packages
fi

load_module() {
    local errors
    if [[ "$DRY_RUN" == 1 ]]; then
        run modprobe v4l2loopback "${OPTIONS[@]}"
        return 0
    fi
    if ! errors="$(modprobe v4l2loopback "${OPTIONS[@]}" 2>&1)"; then
        printf '%s\n' "$errors" >&2
        if grep -qiE 'Key was rejected by service|Required key not available' <<<"$errors"; then
            secure_boot_help
        fi
        die "could not load v4l2loopback (see above)"
    fi
}

existing=""
if module_loaded; then existing="$(labelled_device || true)"; fi
if [[ -n "$existing" ]]; then
    say "already loaded: $existing is labelled \"$LABEL\""
    DEVICE="$existing"
    if [[ "$DRY_RUN" == 1 ]]; then load_module; fi
else
    if module_loaded; then
        # Loaded by something else without our device: reload it with our options.
        say "v4l2loopback is loaded without a \"$LABEL\" device; reloading it"
        run modprobe -r v4l2loopback \
            || die "could not unload v4l2loopback: close every program using a virtual camera (OBS, browsers), then run this again"
    fi
    load_module
fi

if [[ "$PERSIST" == 1 ]]; then
    write_file "$MODULES_LOAD_CONF" "v4l2loopback"
    write_file "$MODPROBE_CONF" "options v4l2loopback ${OPTIONS[*]}"
fi

if [[ "$DRY_RUN" == 0 ]]; then
    [[ -e "$DEVICE" ]] || die "the module loaded but $DEVICE did not appear — check: sudo dmesg | tail"
    say "ready: $DEVICE is the \"$LABEL\" virtual camera"
fi

# /dev/video* belong to the `video` group: without it SwapCast gets "permission denied".
TARGET_USER="${SUDO_USER:-${USER:-}}"
if [[ -n "$TARGET_USER" && "$TARGET_USER" != root ]] && ! id -nG "$TARGET_USER" 2>/dev/null | tr ' ' '\n' | grep -qx video; then
    say "$TARGET_USER is not in the 'video' group. Add them, then log out and in:"
    say "  sudo usermod -aG video $TARGET_USER"
else
    say "users need to be in the 'video' group to use $DEVICE (sudo usermod -aG video \$USER, then log out and in)"
fi
