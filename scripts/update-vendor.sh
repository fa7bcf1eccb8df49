#!/bin/sh
# Bring a browser library the pages use from its npm package into web/static/vendor/<name>/,
# with its VERSION, LICENSE and SHA256SUMS beside it. Served from our own origin, never a CDN.
#
#   scripts/update-vendor.sh            # the pinned version below, again (checks nothing drifted)
#   scripts/update-vendor.sh 0.24.0     # another version of @zxing/library
#
# The tarball npm hands over is checked against the registry's integrity (sha512) before use.
set -eu

PACKAGE="@zxing/library"
VERSION="${1:-0.23.0}"
# The one file the gate loads: the UMD build, a classic script that defines window.ZXing.
FILE="umd/index.min.js"
DEST="$(cd "$(dirname "$0")/.." && pwd)/web/static/vendor/zxing-library"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="$(npm pack "$PACKAGE@$VERSION" --silent | tail -n 1)"
expected="$(npm view "$PACKAGE@$VERSION" dist.integrity)"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$expected" != "$actual" ]; then
    echo "integrity mismatch for $PACKAGE@$VERSION: registry $expected, got $actual" >&2
    exit 1
fi
tar xzf "$tarball"
mkdir -p "$DEST"
cp "package/$FILE" "$DEST/index.min.js"
cp package/LICENSE "$DEST/LICENSE"
printf '%s@%s\nfrom %s (%s)\n' "$PACKAGE" "$VERSION" "$FILE" "$expected" >"$DEST/VERSION"
(cd "$DEST" && sha256sum index.min.js LICENSE >SHA256SUMS)
echo "vendored $PACKAGE@$VERSION into $DEST"
