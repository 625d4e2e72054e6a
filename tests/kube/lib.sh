# shellcheck shell=bash
# Helpers for the Kubernetes API tests: a throwaway CA and server
# certificate (openssl), a kubeconfig with a tokenFile, the fake API server
# (fake_apiserver.py) and its control port.  Callers set KUBE_DIR (a private
# temporary directory), KUBE_NETNS (the namespace the server runs in, or
# empty for the current one), KUBE_PORT and KUBE_CTL_PORT.

KUBE_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKE_PID=

kube_in_ns() {
	if [ -n "${KUBE_NETNS:-}" ]; then ip netns exec "$KUBE_NETNS" "$@"; else "$@"; fi
}

# kube_certs: $KUBE_DIR/ca.crt, server.crt/key for 127.0.0.1 (and localhost),
# client.crt/key for client certificate authentication.
kube_certs() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=netpol-test-ca" \
		-keyout "$KUBE_DIR/ca.key" -out "$KUBE_DIR/ca.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$KUBE_DIR/server.key" -out "$KUBE_DIR/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$KUBE_DIR/san.ext"
	openssl x509 -req -in "$KUBE_DIR/server.csr" -CA "$KUBE_DIR/ca.crt" \
		-CAkey "$KUBE_DIR/ca.key" -CAcreateserial -days 2 -extfile "$KUBE_DIR/san.ext" \
		-out "$KUBE_DIR/server.crt" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=system:serviceaccount:netpol-agent:netpol-agent" \
		-keyout "$KUBE_DIR/client.key" -out "$KUBE_DIR/client.csr" 2>/dev/null || return 1
	openssl x509 -req -in "$KUBE_DIR/client.csr" -CA "$KUBE_DIR/ca.crt" \
		-CAkey "$KUBE_DIR/ca.key" -CAcreateserial -days 2 -out "$KUBE_DIR/client.crt" 2>/dev/null
}

# kube_config_cert: $KUBE_DIR/kubeconfig-cert (CA and client certificate
# inline, base64: the -data forms).
kube_config_cert() {
	cat >"$KUBE_DIR/kubeconfig-cert" <<YAML
apiVersion: v1
kind: Config
current-context: cert
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 <"$KUBE_DIR/ca.crt")
contexts:
- name: cert
  context: {cluster: fake, user: agent-cert}
users:
- name: agent-cert
  user:
    client-certificate-data: $(base64 -w0 <"$KUBE_DIR/client.crt")
    client-key-data: $(base64 -w0 <"$KUBE_DIR/client.key")
YAML
}

# kube_config TOKEN: $KUBE_DIR/kubeconfig (CA as a file path, token in a file).
kube_config() {
	printf '%s\n' "$1" >"$KUBE_DIR/token"
	cat >"$KUBE_DIR/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority: ca.crt
contexts:
- name: test
  context:
    cluster: fake
    user: agent
users:
- name: agent
  user:
    tokenFile: token
YAML
}

# kube_start TOKEN: start the fake API server; wait until it answers.
kube_start() {
	local i
	local args=("$KUBE_HERE/fake_apiserver.py" --port "$KUBE_PORT"
		--control-port "$KUBE_CTL_PORT" --cert "$KUBE_DIR/server.crt"
		--key "$KUBE_DIR/server.key" --token "$1" --client-ca "$KUBE_DIR/ca.crt")
	# Not through a shell function: $! must be the server itself.
	if [ -n "${KUBE_NETNS:-}" ]; then
		ip netns exec "$KUBE_NETNS" python3 "${args[@]}" >"$KUBE_DIR/fake-api.log" 2>&1 &
	else
		python3 "${args[@]}" >"$KUBE_DIR/fake-api.log" 2>&1 &
	fi
	FAKE_PID=$!
	for ((i = 0; i < 100; i++)); do
		alive "$FAKE_PID" || break
		kube_ctl_get >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "the fake API server did not start:" >&2
	cat "$KUBE_DIR/fake-api.log" >&2
	return 1
}

kube_stop() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
	FAKE_PID=
}

# kube_ctl PATH [JSON]: POST to the control port; prints the answer.
kube_ctl() {
	kube_in_ns curl -sS --fail -X POST --data-binary "${2:-{\}}" \
		"http://127.0.0.1:$KUBE_CTL_PORT$1"
}
# kube_ctl_file PATH FILE: the same with the body from FILE (large bodies).
kube_ctl_file() {
	kube_in_ns curl -sS --fail -X POST --data-binary "@$2" "http://127.0.0.1:$KUBE_CTL_PORT$1"
}
kube_ctl_get() { kube_in_ns curl -sS --fail "http://127.0.0.1:$KUBE_CTL_PORT/stats"; }
# kube_apply: a JSON object (or {"kind":"List","items":[...]}) on stdin.
kube_apply() { kube_ctl /apply "$(cat)" >/dev/null; }
kube_delete() { # KIND NAMESPACE NAME
	kube_ctl /delete "{\"kind\":\"$1\",\"namespace\":\"$2\",\"name\":\"$3\"}" >/dev/null
}
kube_set() { kube_ctl /set "$1" >/dev/null; }
