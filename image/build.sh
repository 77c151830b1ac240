#!/usr/bin/env bash
# Builds a bootable Debian 12 disk image of the appliance with Debian's own tools (mmdebstrap,
# mke2fs -d, mtools, sfdisk); nothing comes from outside the Debian archive and this checkout.
#
#   image/build.sh [amd64|arm64]        → image/out/tram-<arch>.img (raw GPT disk, UEFI)
#
# Layout: p1 ESP (FAT, systemd-boot, kernel, initrd, and where school IT may drop
# tram-provision.toml), p2 the system (ext4, mounted read-only by the appliance's sandbox),
# p3 /var/lib/tram (ext4, label tram-data: the data lives apart from the system, so a system
# reflash keeps it). Runs as root (or under `unshare` mode of mmdebstrap); needs no loop devices.
#
# Environment: TRAM_BIN (default target/<triple>/release/tram, built if missing),
# RELEASE_KEY_PUB (the release public key whose bundles the box accepts; default: a development
# key made in image/out/release/), MIRROR (default http://deb.debian.org/debian),
# ROOT_MB / DATA_MB (partition sizes), PROVISION (a tram-provision.toml to put on the ESP),
# OUT (output folder, default image/out).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
arch="${1:-amd64}"
case "$arch" in
  amd64) triple=x86_64-unknown-linux-gnu; efi=x64; kernel=linux-image-amd64 ;;
  arm64) triple=aarch64-unknown-linux-gnu; efi=aa64; kernel=linux-image-arm64 ;;
  *) echo "usage: image/build.sh [amd64|arm64]" >&2; exit 2 ;;
esac
mirror="${MIRROR:-http://deb.debian.org/debian}"
root_mb="${ROOT_MB:-1200}"
data_mb="${DATA_MB:-512}"
esp_mb=160
out="${OUT:-$here/out}"
img="$out/tram-$arch.img"
key_pub="${RELEASE_KEY_PUB:-}"

need=()
for t in mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ "$arch" = arm64 ]; then
  # Cross-building: the linker for the binary, and qemu-user to run arm64 maintainer scripts.
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
  [ -d /usr/aarch64-linux-gnu/include ] || need+=(libc6-dev-arm64-cross)
  [ -e /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static binfmt-support)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$arch" = arm64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # mmdebstrap runs the arm64 packages' scripts through qemu-user: register it.
  grep -q binfmt_misc /proc/mounts || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64
fi
if [ -n "${TRAM_BIN:-}" ]; then
  bin="$TRAM_BIN"
else
  # Always through cargo: a no-op when the binary is fresh, never a stale one in the image.
  if [ "$arch" = arm64 ]; then
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    rustup target add aarch64-unknown-linux-gnu >/dev/null
  fi
  (cd "$repo" && cargo build --release --locked -p tram --target "$triple")
  bin="$repo/target/$triple/release/tram"
fi
if [ ! -f "$key_pub" ]; then
  # No release key given: make one for this build only (image/out/release/), so a developer's
  # image works; a school's image must be built with RELEASE_KEY_PUB of the real release key.
  key_pub="$out/release/release-key.pub"
  [ -f "$key_pub" ] || (cd "$repo" && cargo run --release --locked -q -p tram -- release keygen --out "$out/release" >/dev/null)
  echo "note: the image trusts the development release key $key_pub" >&2
fi
version="$("$bin" --version 2>/dev/null | awk '{print $2}')" || version=unknown
[ "$arch" = amd64 ] || version="$(grep -m1 '^version' "$repo/Cargo.toml" | cut -d'"' -f2)"

work="$(mktemp -d "${TMPDIR:-/tmp}/tram-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/root"

# The system. --variant=minbase plus what a headless appliance needs: systemd (networkd,
# resolved, timesyncd for time sync, journald), the kernel and initramfs, nothing else.
mmdebstrap --variant=minbase --architectures="$arch" \
  --include="$kernel,systemd-boot-efi,systemd,systemd-sysv,systemd-timesyncd,systemd-resolved,udev,dbus,kmod,initramfs-tools,e2fsprogs,ca-certificates,iproute2,zstd" \
  --customize-hook='echo tram > "$1/etc/hostname"' \
  --customize-hook=': > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"' \
  --customize-hook='chroot "$1" useradd --system --home-dir /var/lib/tram --shell /usr/sbin/nologin tram' \
  --customize-hook='chroot "$1" passwd --lock root' \
  --customize-hook='ln -sf /usr/share/zoneinfo/Asia/Ho_Chi_Minh "$1/etc/localtime"; echo Asia/Ho_Chi_Minh > "$1/etc/timezone"' \
  bookworm "$work/rootfs.tar" "$mirror"

tar -C "$work/root" --numeric-owner -xpf "$work/rootfs.tar"
r="$work/root"
install -d -m 0755 "$r/opt/tram/versions/$version/bin" "$r/etc/tram" "$r/var/lib/tram"
install -m 0755 "$bin" "$r/opt/tram/versions/$version/bin/tram"
echo "$version" > "$r/opt/tram/versions/$version/VERSION"
ln -sfn "versions/$version" "$r/opt/tram/current"
install -m 0644 "$repo/README.md" "$r/opt/tram/README.md"
install -m 0644 "$key_pub" "$r/etc/tram/release-key.pub"
install -m 0644 "$here/files/"*.service "$here/files/"*.path "$r/etc/systemd/system/"
install -m 0644 "$here/files/10-tram.network" "$r/etc/systemd/network/"
install -D -m 0755 "$here/files/tram-update-recover.sh" "$r/usr/lib/tram/update-recover.sh"
install -d "$r/etc/systemd/journald.conf.d"
install -m 0644 "$here/files/journald.conf" "$r/etc/systemd/journald.conf.d/tram.conf"
cat > "$r/etc/fstab" <<FSTAB
LABEL=tram-root  /              ext4  defaults,noatime,errors=remount-ro  0 1
LABEL=TRAM-ESP   /boot/efi      vfat  umask=0077,noauto,x-systemd.automount  0 2
LABEL=tram-data  /var/lib/tram  ext4  defaults,noatime,nosuid,nodev,noexec  0 2
# A USB backup disk named TRAM-BACKUP (exFAT or FAT32, as Windows formats it), mounted when the
# backup first touches /media/tram-backup; nofail: the box boots and serves without it.
LABEL=TRAM-BACKUP  /media/tram-backup  exfat,vfat  nofail,noauto,x-systemd.automount,x-systemd.device-timeout=5s,x-systemd.idle-timeout=300,uid=tram,gid=tram,umask=0077,nosuid,nodev,noexec  0 0
FSTAB
for u in tram.service tram-firstboot.service tram-update-recover.service tram-update.path tram-power.path \
         systemd-networkd.service systemd-resolved.service systemd-timesyncd.service; do
  chroot "$r" systemctl enable "$u" >/dev/null 2>&1 || systemctl --root="$r" enable "$u" >/dev/null
done
ln -sfn /run/systemd/resolve/stub-resolv.conf "$r/etc/resolv.conf"
rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*

# The ESP: systemd-boot, the kernel and initrd, one loader entry.
kver="$(basename "$(ls -d "$r"/lib/modules/* | sort -V | tail -1)")"
console=ttyS0; [ "$arch" = arm64 ] && console=ttyAMA0
dd if=/dev/zero of="$work/esp.img" bs=1M count=$esp_mb status=none
mkfs.vfat -F 32 -n TRAM-ESP "$work/esp.img" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$work/esp.img" "$r/usr/lib/systemd/boot/efi/systemd-boot$efi.efi" "::/EFI/BOOT/BOOT${efi^^}.EFI"
mcopy -i "$work/esp.img" "$r/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$work/esp.img" "$r/boot/initrd.img-$kver" ::/initrd.img
printf 'default tram.conf\ntimeout 0\n' > "$work/loader.conf"
printf 'title Trạm %s\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=LABEL=tram-root ro console=tty0 console=%s quiet\n' \
  "$version" "$console" > "$work/tram.conf"
mcopy -i "$work/esp.img" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$work/esp.img" "$work/tram.conf" ::/loader/entries/tram.conf
if [ -n "${PROVISION:-}" ]; then
  mcopy -i "$work/esp.img" "$PROVISION" ::/tram-provision.toml
fi

# The system and data file systems, filled without mounting anything.
mkdir -p "$work/data"
mkfs.ext4 -q -L tram-root -d "$r" "$work/root.img" "${root_mb}M"
mkfs.ext4 -q -L tram-data -E root_owner="$(chroot "$r" id -u tram):$(chroot "$r" id -g tram)" \
  -d "$work/data" "$work/data.img" "${data_mb}M"

# Assemble the GPT disk: 1 MiB alignment, partitions copied at their offsets.
total=$((1 + esp_mb + root_mb + data_mb + 1))
rm -f "$img"
truncate -s "${total}M" "$img"
sfdisk -q "$img" <<PARTS
label: gpt
start=1MiB, size=${esp_mb}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
size=${root_mb}MiB, type=$( [ "$arch" = amd64 ] && echo 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 || echo B921B045-1DF0-41C3-AF44-4C6F280D3FAE ), name=root
size=${data_mb}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=data
PARTS
dd if="$work/esp.img" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((1 + esp_mb)) conv=notrunc,sparse status=none
dd if="$work/data.img" of="$img" bs=1M seek=$((1 + esp_mb + root_mb)) conv=notrunc,sparse status=none
echo "$img"
