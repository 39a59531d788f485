#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t9001-deploy-files.sh - the deployment files that cannot run on this
# machine (no Docker daemon, no cluster, no helm) are linted instead: YAML
# parses, the Helm chart renders with several values, the Kubernetes objects
# agree with each other and with kiln (probes, ports, volumes, Secrets, the
# agent's LD_PRELOAD), the Dockerfile passes a basic lint and installs every
# library the built binaries need, the systemd unit is hardened.
# The checks live in deploy_check.py beside this script.
. "$(dirname "$0")/lib.sh"
: "${KILN_BUILD:?}" "${KILN_SRC:?}"
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml not installed"; exit 77; }
[ -e "$KILN_BUILD/lib/libkiln.so" ] || { echo "FAIL: $KILN_BUILD/lib/libkiln.so not built"; exit 1; }
if python3 "$(dirname "$0")/deploy_check.py" "$KILN_SRC" "$KILN_BUILD" "${KILN_SANITIZE:-0}" "$KILN" \
	>"$TMP/check.out" 2>&1; then pass; else fail "deploy_check.py"; fi
cat "$TMP/check.out"
# every file under deploy/ and packaging/ is one the checks know about, so a
# new manifest cannot slip in unchecked
while IFS= read -r f; do
	case "$f" in
	deploy/Dockerfile | deploy/Dockerfile.dockerignore | deploy/kubernetes/*.yaml | \
		deploy/helm/kiln/Chart.yaml | deploy/helm/kiln/values.yaml | \
		deploy/helm/kiln/templates/*.yaml | deploy/helm/kiln/templates/_helpers.tpl | \
		deploy/helm/kiln/templates/NOTES.txt | packaging/kiln.pc.in | \
		packaging/kiln-server.service.in | packaging/gen-man.sh | packaging/install.cmake) pass ;;
	*) fail "$f: not covered by t9000/t9001" ;;
	esac
done < <(cd "$KILN_SRC" && find deploy packaging -type f | sort)
finish
