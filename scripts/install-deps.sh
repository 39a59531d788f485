#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages Kiln needs to build and test, if missing.
# Runs apt-get as root (directly, or through sudo when available).
# Each package and why it is needed: docs/dependencies.md.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libprotobuf-c-dev protobuf-c-compiler
	zlib1g-dev libdeflate-dev libzstd-dev libjansson-dev libpcre2-dev libcurl4-openssl-dev
	libxxhash-dev libcmocka-dev
	libmicrohttpd-dev libyaml-dev libdw-dev libelf-dev
	libgoogle-perftools-dev google-perftools heaptrack
	zstd golang-go python3
	hyperfine jq time bc curl openssl
	chromium  # the web UI's browser tests (tests/web/ui_test.js, playwright-core)
	python3-yaml  # tests/cli/t9001-deploy-files.sh: the YAML of deploy/ and the Helm chart
)

# node runs the flame graph viewer's tests; any node >= 18 will do, so
# Debian's nodejs is installed only when no node is on the PATH
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
# npm installs playwright-core for the browser tests (into the build dir)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
