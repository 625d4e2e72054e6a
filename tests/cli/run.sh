#!/usr/bin/env bash
# netpolctl verdict: output format, attribution, options and exit codes.
# Usage: tests/cli/run.sh BUILD_DIR   (root: the verdicts run the BPF programs)
set -uo pipefail
build=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ctl="$build/netpolctl"
objs=(-f "$here/objects.yaml" -f "$root/policies/relay-allow-aks.yaml")
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$(id -u)" != 0 ]; then
	echo "tests/cli: needs root (netpolctl verdict loads BPF programs)" >&2
	exit 1
fi

ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $1"; echo "$2" | sed 's/^/    /'; fail=$((fail + 1)); }

# check NAME JQ_FILTER OUTPUT: the filter must evaluate to true.
check() {
	if echo "$3" | jq -e "$2" >/dev/null 2>&1; then ok "$1"; else not_ok "$1" "$3"; fi
}

# verdict PROBE_JSON -> one output line
verdict() { echo "$1" | "$ctl" verdict "${objs[@]}" --probes - 2>"$tmp/err"; }

out=$(verdict '{"id": 7, "from": "10.250.3.4", "to": "relay/relay-0", "port": 443, "protocol": "TCP"}')
check "AKS address -> relay:443 allowed" '.verdict == "ALLOW"' "$out"
check "attribution names the policy and rule" \
	'.ingress.policy == "relay/relay-allow-aks" and .ingress.rule == "ingress[0]" and .ingress.reason == "policy"' "$out"
check "unknown probe fields are kept, in order" '(keys_unsorted | .[0]) == "id" and .id == 7' "$out"
check "no egress detail for a bare IP source" 'has("egress") | not' "$out"

out=$(verdict '{"from": "10.99.0.1", "to": "relay/relay-0", "port": 443}')
check "address outside the AKS ranges denied" '.verdict == "DENY" and .ingress.reason == "no-rule"' "$out"
check "denial names the isolating policy" '.ingress.isolatedBy == ["relay/relay-allow-aks"]' "$out"

out=$(verdict '{"from": "10.250.3.4", "to": "relay/relay-0", "port": 8443}')
check "AKS address on another port denied" '.verdict == "DENY"' "$out"

out=$(verdict '{"from": "10.250.3.4", "to": "relay/relay-0", "port": 443, "protocol": "UDP"}')
check "UDP 443 denied (the rule is TCP)" '.verdict == "DENY"' "$out"

out=$(verdict '{"from": "apps/web", "to": "relay/relay-0", "port": 443}')
check "pod outside the ranges denied, egress of the source allowed" \
	'.verdict == "DENY" and .egress.verdict == "ALLOW" and .egress.reason == "not-isolated"' "$out"

out=$(verdict '{"from": "apps/node-exporter", "to": "relay/relay-0", "port": 9100}')
check "hostNetwork pod counts as the node" '.verdict == "ALLOW" and .ingress.reason == "node"' "$out"

out=$(verdict '{"from": "fd00:250::5", "to": "relay/relay-0", "port": 443}')
check "IPv6 source picks the pod's IPv6 address and is denied" '.verdict == "DENY"' "$out"

out=$(verdict '{"from": "10.250.3.4", "to": "relay/relay-0", "protocol": "ICMP"}')
check "ICMP denied by a rule that names ports" '.verdict == "DENY"' "$out"

out=$(verdict '{"from": "relay/relay-0", "to": "apps/web", "port": 8080}')
check "named port resolves at the destination pod" \
	'.verdict == "ALLOW" and .ingress.rule == "ingress[0]"' "$out"
out=$(verdict '{"from": "10.99.0.1", "to": "apps/web", "port": 8080}')
check "audit-annotated policy: would-be denial passes as AUDIT" \
	'.verdict == "AUDIT" and .ingress.verdict == "AUDIT"' "$out"

out=$("$ctl" verdict "${objs[@]}" --audit --from 10.99.0.1 --to relay/relay-0 --port 443 2>&1)
check "--audit and single-probe flags" '.verdict == "AUDIT" and .from == "10.99.0.1" and .protocol == "TCP"' "$out"

printf '%s\n' '{"n":1,"from":"10.250.0.1","to":"relay/relay-0","port":443}' \
	'{"n":2,"from":"10.251.0.1","to":"relay/relay-0","port":443}' \
	'{"n":3,"from":"10.252.0.1","to":"relay/relay-0","port":443}' > "$tmp/probes.jsonl"
out=$("$ctl" verdict "${objs[@]}" --probes "$tmp/probes.jsonl" 2>&1 | jq -c '[.n, .verdict]' | tr -d '\n')
if [ "$out" = '[1,"ALLOW"][2,"ALLOW"][3,"DENY"]' ]; then ok "probes file: one line per probe, in order"; else not_ok "probes file order" "$out"; fi

# The everyday examples in policies/, each alone and all together.
with() { # POLICY_FILE PROBE_JSON
	echo "$2" | "$ctl" verdict -f "$here/objects.yaml" -f "$1" --probes - 2>"$tmp/err"
}
out=$(with "$root/policies/default-deny-ingress.yaml" '{"from": "apps/web", "to": "relay/worker", "port": 80}')
check "default-deny-ingress isolates every pod of the namespace" \
	'.verdict == "DENY" and .ingress.isolatedBy == ["relay/default-deny-ingress"]' "$out"
out=$(with "$root/policies/default-deny-ingress.yaml" '{"from": "relay/worker", "to": "apps/web", "port": 8080}')
check "default-deny-ingress leaves egress alone" '.egress.reason == "not-isolated"' "$out"
out=$(with "$root/policies/allow-same-namespace.yaml" '{"from": "relay/worker", "to": "relay/relay-0", "port": 8080}')
check "allow-same-namespace: a pod of the namespace gets in" \
	'.verdict == "ALLOW" and .ingress.policy == "relay/allow-same-namespace"' "$out"
out=$(with "$root/policies/allow-same-namespace.yaml" '{"from": "apps/web", "to": "relay/worker", "port": 8080}')
check "allow-same-namespace: another namespace does not" '.verdict == "DENY"' "$out"
out=$(with "$root/policies/default-deny-egress-allow-dns.yaml" '{"from": "relay/worker", "to": "kube-system/coredns-0", "port": 53, "protocol": "UDP"}')
check "default-deny-egress-allow-dns: DNS over UDP allowed" \
	'.verdict == "ALLOW" and .egress.policy == "relay/default-deny-egress-allow-dns"' "$out"
out=$(with "$root/policies/default-deny-egress-allow-dns.yaml" '{"from": "relay/worker", "to": "kube-system/coredns-0", "port": 53, "protocol": "TCP"}')
check "default-deny-egress-allow-dns: DNS over TCP allowed" '.verdict == "ALLOW"' "$out"
out=$(with "$root/policies/default-deny-egress-allow-dns.yaml" '{"from": "relay/worker", "to": "apps/web", "port": 8080}')
check "default-deny-egress-allow-dns: anything else denied at egress" \
	'.verdict == "DENY" and .egress.reason == "no-rule"' "$out"
# YAML 1.1 numbers as kubectl reads them: port 0673 is octal 443.
sed 's/port: 443/port: 0673/' "$root/policies/relay-allow-aks.yaml" >"$tmp/octal.yaml"
out=$(echo '{"from": "10.250.3.4", "to": "relay/relay-0", "port": 443}' | "$ctl" verdict -f "$here/objects.yaml" -f "$tmp/octal.yaml" --probes - 2>"$tmp/err")
check "port: 0673 is 443 (octal, as the API server reads it)" '.verdict == "ALLOW"' "$out"
out=$(echo '{"from": "10.250.3.4", "to": "relay/relay-0", "port": 673}' | "$ctl" verdict -f "$here/objects.yaml" -f "$tmp/octal.yaml" --probes - 2>"$tmp/err")
check "port: 0673 is not 673" '.verdict == "DENY"' "$out"

# Address families are separate: the ::/0 peer must not re-allow IMDS.
imds="$root/policies/egress-except-imds.yaml"
out=$(with "$imds" '{"from": "apps/batch", "to": "169.254.169.254", "port": 80}')
check "egress-except-imds: the metadata service is denied despite the ::/0 peer" \
	'.verdict == "DENY" and .egress.reason == "no-rule" and .egress.isolatedBy == ["apps/egress-except-imds"]' "$out"
out=$(with "$imds" '{"from": "apps/batch", "to": "fd00:ec2::254", "port": 80}')
check "egress-except-imds: the IPv6 metadata endpoint is denied" '.verdict == "DENY"' "$out"
out=$(with "$imds" '{"from": "apps/batch", "to": "::ffff:169.254.169.254", "port": 80}')
check "egress-except-imds: IPv4-mapped IPv6 form crafted as IPv6 and dropped as malformed" \
	'.verdict == "DENY" and .egress.reason == "malformed"' "$out"
out=$(with "$imds" '{"from": "apps/batch", "to": "8.8.8.8", "port": 443}')
check "egress-except-imds: other IPv4 destinations allowed" \
	'.verdict == "ALLOW" and .egress.policy == "apps/egress-except-imds" and .egress.rule == "egress[0]"' "$out"
out=$(with "$imds" '{"from": "apps/batch", "to": "2001:db8::1", "port": 443}')
check "egress-except-imds: other IPv6 destinations allowed" '.verdict == "ALLOW"' "$out"

all() { echo "$1" | "$ctl" verdict -f "$here/objects.yaml" -f "$root/policies" --probes - 2>"$tmp/err"; }
out=$(all '{"from": "10.250.0.5", "to": "relay/relay-0", "port": 443}')
check "all examples together: AKS still reaches the relay" '.verdict == "ALLOW"' "$out"
out=$(all '{"from": "relay/worker", "to": "relay/relay-0", "port": 443}')
check "all examples together: the egress default deny also stops same-namespace traffic" '.verdict == "DENY" and .egress.verdict == "DENY"' "$out"
out=$(all '{"from": "apps/web", "to": "relay/relay-0", "port": 443}')
check "all examples together: other namespaces denied" '.verdict == "DENY" and .ingress.verdict == "DENY"' "$out"

# Bad input: exit 2 and a message naming what is wrong.
expect_bad() { # NAME PATTERN CMD...
	local name=$1 pattern=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$?
	if [ "$rc" = 2 ] && grep -q -- "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc; stderr: $(cat "$tmp/err"); stdout: $(cat "$tmp/out")"
	fi
}
printf '%s\n' '{"from":"10.250.0.1","to":"relay/relay-0","port":443}' '{"from":"relay/nope","to":"relay/relay-0","port":443}' >"$tmp/bad-pod.jsonl"
expect_bad "unknown pod in a probe: exit 2, line named" "bad-pod.jsonl:2: pod relay/nope not found" \
	"$ctl" verdict "${objs[@]}" --probes "$tmp/bad-pod.jsonl"
printf '%s\n' '{"from":"10.250.0.1","to":"relay/relay-0","port":70000}' >"$tmp/bad-port.jsonl"
expect_bad "out-of-range probe port: exit 2" 'bad-port.jsonl:1: .*must be a number from 1 to 65535' \
	"$ctl" verdict "${objs[@]}" --probes "$tmp/bad-port.jsonl"
printf 'not json\n' >"$tmp/bad-json.jsonl"
expect_bad "malformed probe line: exit 2" "bad-json.jsonl:1: not a JSON object" \
	"$ctl" verdict "${objs[@]}" --probes "$tmp/bad-json.jsonl"
sed 's/port: 443/port: 99999/' "$root/policies/relay-allow-aks.yaml" >"$tmp/bad-policy.yaml"
expect_bad "invalid policy: exit 2 naming file, object and field" \
	"bad-policy.yaml: NetworkPolicy relay/relay-allow-aks: spec.ingress\[0\].ports\[0\].port" \
	"$ctl" verdict -f "$here/objects.yaml" -f "$tmp/bad-policy.yaml" --from 10.250.0.1 --to relay/relay-0 --port 443
sed 's/ingress:/ingres:/' "$root/policies/relay-allow-aks.yaml" >"$tmp/typo.yaml"
expect_bad "unknown field in a policy: exit 2" "spec.ingres" \
	"$ctl" verdict -f "$here/objects.yaml" -f "$tmp/typo.yaml" --from 10.250.0.1 --to relay/relay-0 --port 443
printf '%s\n' '{"from":"10.250.3.4","to":"relay/relay-0","port":443,"ipFamily":"IPv6"}' >"$tmp/bad-family.jsonl"
expect_bad "an IPv4 address in an IPv6 probe: exit 2" 'bad-family.jsonl:1: .*10.250.3.4.* is an IPv4 address but the probe is IPv6' \
	"$ctl" verdict "${objs[@]}" --probes "$tmp/bad-family.jsonl"
cat >"$tmp/v6-except-v4.yaml" <<'EOF2'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: mixed, namespace: apps}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: "::/0", except: [169.254.169.254/32]}
EOF2
expect_bad "except of the other address family: exit 2 naming the field" \
	'NetworkPolicy apps/mixed: spec.ingress\[0\].from\[0\].ipBlock.except\[0\]: 169.254.169.254/32 is not the same address family as cidr ::/0' \
	"$ctl" verdict -f "$here/objects.yaml" -f "$tmp/v6-except-v4.yaml" --from 10.250.0.1 --to apps/web --port 80
cat >"$tmp/mapped-pod.yaml" <<'EOF2'
apiVersion: v1
kind: Pod
metadata: {name: odd, namespace: apps}
spec: {containers: [{name: c}]}
status: {podIP: "::ffff:10.244.9.9"}
EOF2
expect_bad "a pod IP in the IPv4-mapped IPv6 form: exit 2" \
	'Pod apps/odd: status.podIP: .*::ffff:10.244.9.9.* is an IPv4-mapped IPv6 address' \
	"$ctl" verdict -f "$tmp/mapped-pod.yaml" --from 10.250.0.1 --to apps/odd --port 80
{ cat "$root/policies/relay-allow-aks.yaml"; head -c $((33 << 20)) /dev/zero | tr '\0' '#'; } >"$tmp/huge.yaml"
expect_bad "an objects file over 32 MiB: exit 2, refused whole with the limit named" \
	'huge.yaml: larger than 32 MiB, the most one objects file may be' \
	"$ctl" verdict -f "$here/objects.yaml" -f "$tmp/huge.yaml" --from 10.250.0.1 --to relay/relay-0 --port 443
rm -f "$tmp/huge.yaml"
expect_bad "missing objects: exit 2" "give objects with -f" "$ctl" verdict --from a/b --to c/d --port 1

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
