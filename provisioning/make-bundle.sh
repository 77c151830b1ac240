#!/usr/bin/env bash
# Builds a signed update bundle from this checkout (the maintainers' machine, where the release
# key lives, offline).
#
#   provisioning/make-bundle.sh RELEASE_KEY [amd64|arm64]   → provisioning/out/tram-<version>-<arch>.bundle
#
# A new key pair: `tram release keygen --out DIR` (DIR/release.key stays offline; the image is
# built with RELEASE_KEY_PUB=DIR/release-key.pub). Schools apply the bundle with
# `tram update apply BUNDLE` from a USB stick, or the School IT page's upload.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
key="${1:?usage: provisioning/make-bundle.sh RELEASE_KEY [amd64|arm64]}"
arch="${2:-amd64}"
case "$arch" in
  amd64) triple=x86_64-unknown-linux-gnu; rarch=x86_64 ;;
  arm64) triple=aarch64-unknown-linux-gnu; rarch=aarch64
         export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
         export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc ;;
  *) echo "arch must be amd64 or arm64" >&2; exit 2 ;;
esac
version="$(grep -m1 '^version' "$repo/Cargo.toml" | cut -d'"' -f2)"
(cd "$repo" && cargo build --release --locked -p tram --target "$triple")
mkdir -p "$here/out"
out="$here/out/tram-$version-$arch.bundle"
(cd "$repo" && cargo run --release --locked -q -p tram -- release bundle \
  --key "$key" --version "$version" --arch "$rarch" \
  --binary "target/$triple/release/tram" \
  --file "share/README.md=README.md" \
  --notes "Trạm $version" --out "$out")
