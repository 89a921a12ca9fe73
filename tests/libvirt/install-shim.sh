#!/bin/sh
# install-shim.sh DIR NIMBUS: install the `cloud-hypervisor` shim as
# DIR/cloud-hypervisor, execing the nimbus binary at NIMBUS (an absolute path,
# baked in).  Put DIR first on the PATH of virtchd/libvirtd.
set -eu
[ "$#" -eq 2 ] || { echo "usage: $0 DIR NIMBUS" >&2; exit 2; }
dir=$1 nimbus=$2
case $nimbus in
    /*) ;;
    *) nimbus=$(cd "$(dirname "$nimbus")" && pwd)/$(basename "$nimbus") ;;
esac
[ -x "$nimbus" ] || { echo "$0: $nimbus is not an executable" >&2; exit 1; }
case $nimbus in
    *[!A-Za-z0-9/._+-]*) echo "$0: unusual characters in '$nimbus'" >&2; exit 1 ;;
esac
mkdir -p "$dir"
sed "s|^NIMBUS=@NIMBUS@\$|NIMBUS=$nimbus|" "$(dirname "$0")/cloud-hypervisor" >"$dir/cloud-hypervisor.tmp"
chmod 0755 "$dir/cloud-hypervisor.tmp"
mv "$dir/cloud-hypervisor.tmp" "$dir/cloud-hypervisor"
