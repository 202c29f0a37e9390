#!/usr/bin/env bash
# Stops an image target at once, with one line saying what to install and
# set, when the Microkit SDK the image needs is not there.
set -euo pipefail
want=2.3.0
url="https://github.com/seL4/microkit/releases/tag/$want"
if [ -z "${MICROKIT_SDK:-}" ]; then
    echo "seL4 image: set MICROKIT_SDK to a Microkit $want SDK (microkit-sdk-$want-linux-x86-64.tar.gz from $url, unpacked)" >&2
    exit 1
fi
if [ ! -x "$MICROKIT_SDK/bin/microkit" ]; then
    echo "seL4 image: MICROKIT_SDK=$MICROKIT_SDK has no bin/microkit: unpack microkit-sdk-$want from $url there" >&2
    exit 1
fi
have=$(cat "$MICROKIT_SDK/VERSION" 2>/dev/null || echo unknown)
if [ "$have" != "$want" ]; then
    echo "seL4 image: MICROKIT_SDK=$MICROKIT_SDK is Microkit $have; the image needs $want ($url)" >&2
    exit 1
fi
