#!/usr/bin/env bash
# Installs what the interop tests need on a fresh Debian machine: Debian's grpc-java jars,
# protoc with the grpc-java plugin, and @grpc/grpc-js + @grpc/proto-loader for the Node client.
# Idempotent and quiet when everything is already there (`.ci/run` calls it before the tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

packages=(
    default-jdk-headless
    libgrpc-java
    protobuf-compiler
    protobuf-compiler-grpc-java-plugin
    libprotobuf-java
    libguava-java
    libnetty-java
    libperfmark-java
    libgeronimo-annotation-1.3-spec-java
    nodejs
    npm
)

missing=()
for pkg in "${packages[@]}"; do
    # nodejs from another source ships its own npm: a working `npm` is enough.
    if [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    if [ "$pkg" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
    if [ "$pkg" = default-jdk-headless ] && command -v javac >/dev/null 2>&1; then continue; fi
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "interop setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_dir="$here/node"
if [ ! -d "$node_dir/node_modules/@grpc/grpc-js" ] || [ ! -d "$node_dir/node_modules/@grpc/proto-loader" ]; then
    echo "interop setup: npm install in tests/interop/node"
    (cd "$node_dir" && npm install --no-audit --no-fund --silent --loglevel=error >/dev/null)
fi
