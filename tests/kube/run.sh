#!/usr/bin/env bash
# End-to-end test of the Kubernetes API sync: the real agent, fed by the fake
# API server (tests/kube/fake_apiserver.py, TLS + bearer token) through
# list+watch, enforcing on real connections between network namespaces.
# Usage: tests/kube/run.sh BUILD_DIR   (as root; `make test-kube`)
#
# Topology (namespaces k8s-*, nothing else touched):
#   k8s-node   the node; the fake API server listens on its 127.0.0.1:17410
#              (control port 17411); the agent runs here (nsenter)
#   k8s-web    pod front/web-0   10.245.1.1  app=web, listens on TCP 8080
#   k8s-cli    pod back/cli-0    10.245.1.2  app=client
#   k8s-oth    pod back/oth-0    10.245.1.3  app=other (its address is reused later)
#   k8s-far    pod back/far-0    10.245.1.4  spec.nodeName another node: a peer
#              only, never enforced on here (--node-name)
# Covered: initial list from the cache failing -> consistent paginated list;
# policies created/modified/deleted; a namespace relabelled; a pod's address
# reused (completed pod, terminating pod); 410 as an ERROR event mid-stream
# and as HTTP 410 with an expired continue token; dropped connections with
# split and batched chunks; a token rotation (401); the API server down with
# the last state kept in force; a restart while the API is down (the pinned
# state stays until the lists are in) with client certificate authentication;
# the in-cluster configuration with a token re-read periodically.
# Output: "ok - ..." / "not ok - ..." per check, then "kube: N passed, M failed".
# KUBE_TEST_KEEP=1 keeps the logs (agent, fake API server) for inspection.
# shellcheck disable=SC2317 # functions run through check/trap
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/netpol-agent
NPCONN=$BUILD/np-conn
PIN=/sys/fs/bpf/netpol-k8s-e2e

NP_PREFIX=k8s
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/kube/lib.sh
. "$HERE/lib.sh"
KUBE_NETNS=$NODE_NS
KUBE_PORT=17410
KUBE_CTL_PORT=17411

PASS=0
FAIL=0
TMP=
AGENT_PID=
LISTENER_PIDS=()
LOG=

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok() { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

cleanup() {
	local p
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	for p in "${LISTENER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${LISTENER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	kube_stop
	[ -e "/run/netns/$NODE_NS" ] &&
		nsenter --net="/run/netns/$NODE_NS" "$AGENT" --uninstall --pin-path "$PIN" >/dev/null 2>&1
	net_cleanup
	if [ -n "$TMP" ] && [ -n "${KUBE_TEST_KEEP:-}" ]; then
		echo "# logs kept in $TMP"
	elif [ -n "$TMP" ]; then
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {
	if [ "$FAIL" -gt 0 ] && [ -n "$TMP" ]; then
		echo "# agent.log (last 40 lines):"
		tail -n 40 "$LOG" | sed 's/^/#   /'
		echo "# fake-api.log (last 10 lines):"
		tail -n 10 "$TMP/fake-api.log" | sed 's/^/#   /'
	fi
	echo "kube: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# allowed/denied POD ADDR PORT: the echo completes / the SYN is dropped (a
# timeout, not a refusal).
allowed() { in_pod "$1" "$NPCONN" connect --timeout-ms 2000 "$2" "$3" 2>>"$TMP/conn.log"; }
denied() {
	local out rc
	out=$(in_pod "$1" "$NPCONN" connect --timeout-ms 700 "$2" "$3" 2>&1)
	rc=$?
	echo "$out" >>"$TMP/conn.log"
	[ "$rc" -eq 1 ] && [[ $out == *"timed out"* ]]
}
# eventually CHECK ARGS...: CHECK passes within 10 s (a watch event is
# applied in milliseconds; re-lists and reconnections take longer).
eventually() {
	local i
	for ((i = 0; i < 50; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
# stays CHECK ARGS...: CHECK passes now and 5 times over the next 2.5 s.
stays() {
	local i
	for ((i = 0; i < 5; i++)); do
		"$@" || return 1
		sleep 0.5
	done
}
web_ok() { allowed "$1" 10.245.1.1 8080; }
web_no() { denied "$1" 10.245.1.1 8080; }
logged() { grep -q -- "$1" "$LOG"; }
count() { grep -c -- "$1" "$LOG" 2>/dev/null || true; }
# after_more PATTERN BEFORE: PATTERN appears more than BEFORE times (10 s).
after_more() { wait_for_count "$LOG" "$1" $(($2 + 1)) 100; }
filters_on() { in_node tc filter show dev "$1" ingress 2>/dev/null | grep -q np_pod_; }
no_filters_on() { [ -z "$(in_node tc filter show dev "$1" ingress 2>/dev/null)" ]; }

# ---- objects as the API server returns them ----
ns_json() { # NAME TEAM
	printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":{"team":"%s"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}' "$1" "$2"
}
# pod_json NS NAME IP APP [NODE] [PHASE] [DELETING]
pod_json() {
	local del=""
	[ -n "${7:-}" ] && del=',"deletionTimestamp":"2026-01-01T00:00:00Z","deletionGracePeriodSeconds":30'
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"%s","labels":{"app":"%s"}%s},"spec":{"nodeName":"%s","containers":[{"name":"main","image":"registry.example/app:1","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},"status":{"phase":"%s","podIP":"%s","podIPs":[{"ip":"%s"}]}}' \
		"$2" "$1" "$4" "$del" "${5:-k8s-node}" "${6:-Running}" "$3" "$3"
}
# pol_json NAME FROM_APP [NS_TEAM]: ingress to app=web in front on port
# "http" (named) from app=FROM_APP pods (in namespaces with team=NS_TEAM);
# FROM_APP "-" means every pod of those namespaces.
pol_json() {
	local peer
	if [ "$2" = - ]; then
		peer="{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"${3:-api}\"}}}"
	else
		peer="{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"${3:-api}\"}},\"podSelector\":{\"matchLabels\":{\"app\":\"$2\"}}}"
	fi
	printf '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"%s","namespace":"front","generation":1,"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"networking.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:podSelector":{}}}}]},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"],"ingress":[{"from":[%s],"ports":[{"protocol":"TCP","port":"http"}]}]}}' "$1" "$peer"
}

# ---- preconditions ----
if [ "$(id -u)" -ne 0 ]; then
	echo "tests/kube/run.sh: needs root (network namespaces and BPF); run: sudo make test-kube" >&2
	exit 2
fi
for c in nsenter python3 openssl curl; do
	if ! command -v "$c" >/dev/null; then
		echo "tests/kube/run.sh: needs $c (make deps installs it)" >&2
		exit 2
	fi
done
for b in "$AGENT" "$NPCONN"; do
	if [ ! -x "$b" ]; then
		echo "tests/kube/run.sh: $b is missing; build it with: make" >&2
		exit 2
	fi
done

net_cleanup
TMP=$(mktemp -d /tmp/k8s-e2e.XXXXXX)
KUBE_DIR=$TMP
LOG=$TMP/agent.log

# ---- topology and API server ----
net_setup_node
net_add_pod web 10.245.1.1
net_add_pod cli 10.245.1.2
net_add_pod oth 10.245.1.3
net_add_pod far 10.245.1.4
ip netns exec "$NP_PREFIX-web" "$NPCONN" listen 8080 >/dev/null 2>>"$TMP/listen.log" &
LISTENER_PIDS+=($!)

kube_certs || { echo "openssl failed to make test certificates" >&2; exit 1; }
kube_config tok-1
kube_start tok-1 || exit 1
{
	printf '{"kind":"List","items":['
	ns_json front web; printf ','
	ns_json back api; printf ','
	pod_json front web-0 10.245.1.1 web; printf ','
	pod_json back cli-0 10.245.1.2 client; printf ','
	pod_json back oth-0 10.245.1.3 other; printf ','
	pod_json back far-0 10.245.1.4 client elsewhere
	printf ']}'
} | kube_apply
# The watch cache "is not ready": the agent must fall back to a consistent
# list, paginated (2 objects a page here).
kube_set '{"cache_list_status": 500, "bookmark_ms": 300}'

# ---- start ----
NETPOL_KUBE_PAGE_LIMIT=2 NETPOL_KUBE_BACKOFF_MAX_MS=1500 \
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --kubeconfig "$TMP/kubeconfig" \
	--node-name k8s-node --pin-path "$PIN" --log-level info >/dev/null 2>>"$LOG" &
AGENT_PID=$!
check "agent reports ready once the initial lists are applied" wait_for_log "$LOG" 'msg="ready' 150
check "initial list fell back to a consistent paginated list" logged 'pods: listed 4 at resourceVersion .* (consistent list)'
kube_set '{"cache_list_status": 0}'
check "filters on the local pod web-0" filters_on np-web
check "no filters on far-0 (spec.nodeName is another node)" no_filters_on np-far
check "no policy: cli-0 -> web-0 allowed" web_ok cli
check "no policy: oth-0 -> web-0 allowed" web_ok oth

# ---- updates that change nothing the agent uses ----
n=$(count 'API change applied')
pod_json back cli-0 10.245.1.2 client |
	sed 's/"status":{/"status":{"conditions":[{"type":"Ready","status":"False"}],/' | kube_apply
sleep 1
check "a pod's status-only update (conditions) recompiles nothing" [ "$(count 'API change applied')" -eq "$n" ]

# ---- bookmarks: a watch resumes from the last bookmark ----
rv=$(ns_json other none | kube_ctl /apply "$(cat)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
sleep 1   # > 3 bookmark intervals: the pods watch saw a bookmark at >= rv
kube_ctl /drop >/dev/null
pods_rv() { kube_ctl_get | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_watch_rv"].get("Pod", 0))'; }
resumed_after_bookmark() { [ "$(pods_rv)" -ge "$rv" ]; }
check "the pods watch resumed from a bookmark's resourceVersion (>= $rv, no pod changed)" eventually resumed_after_bookmark

# ---- create, modify, delete ----
pol_json allow-client client | kube_apply
check "policy created: cli-0 (app=client) -> web-0 allowed" eventually web_ok cli
check "policy created: oth-0 (app=other) -> web-0 denied" eventually web_no oth
check "a watch change is applied within milliseconds (logged)" logged 'API change applied [0-9]* ms after the event arrived'
pol_json allow-client other | kube_apply
check "policy modified: cli-0 -> web-0 denied" eventually web_no cli
check "policy modified: oth-0 -> web-0 allowed" eventually web_ok oth
kube_delete NetworkPolicy front allow-client
check "policy deleted: cli-0 -> web-0 allowed" eventually web_ok cli
check "policy deleted: oth-0 -> web-0 allowed" eventually web_ok oth

# ---- namespace relabelled ----
pol_json from-api - api | kube_apply
check "namespace selector: oth-0 in back (team=api) allowed" eventually web_ok oth
ns_json back none | kube_apply
check "back relabelled team=none: cli-0 denied" eventually web_no cli
check "back relabelled team=none: oth-0 denied" eventually web_no oth
ns_json back api | kube_apply
check "back relabelled team=api again: cli-0 allowed" eventually web_ok cli
kube_delete NetworkPolicy front from-api

# ---- an address reused by another pod ----
pol_json allow-client client | kube_apply
check "before reuse: 10.245.1.3 (oth-0, app=other) denied" eventually web_no oth
pod_json back oth-0 10.245.1.3 other k8s-node Succeeded | kube_apply
pod_json back cli-9 10.245.1.3 client | kube_apply
check "oth-0 completed, 10.245.1.3 reused by cli-9 (app=client): allowed" eventually web_ok oth
kube_delete Pod back oth-0
check "the completed oth-0 deleted: 10.245.1.3 stays with cli-9" stays web_ok oth
pod_json back cli-9 10.245.1.3 client k8s-node Running deleting | kube_apply
pod_json back oth-2 10.245.1.3 other | kube_apply
check "cli-9 terminating, oth-2 (app=other) has 10.245.1.3: denied" eventually web_no oth
kube_delete Pod back cli-9
check "cli-9 gone: 10.245.1.3 stays with oth-2 (denied)" web_no oth

# ---- 410 as an ERROR event mid-stream, then a correct re-list ----
relists=$(count 'networkpolicies: listed')
kube_set '{"paused": true}'
pol_json allow-client other | kube_apply   # not delivered on the watch
kube_ctl /compact >/dev/null               # open watches get ERROR 410
kube_set '{"paused": false}'
check "ERROR 410 event: the agent re-lists" after_more 'networkpolicies: listed' "$relists"
check "410 logged as a watch expiry" logged 'networkpolicies: watch expired (410'
check "after the re-list: oth-2 (app=other) allowed" eventually web_ok oth
check "after the re-list: cli-0 denied" eventually web_no cli

# ---- HTTP 410 and an expired continue token ----
relists=$(count 'networkpolicies: listed')
kube_set '{"paused": true, "gone_mode": "http", "fail_continues": 1}'
pol_json allow-client client | kube_apply
kube_ctl /compact >/dev/null               # watches cut; resuming answers HTTP 410
kube_set '{"paused": false}'
check "HTTP 410: the agent re-lists" after_more 'networkpolicies: listed' "$relists"
check "an expired continue token restarted the list" eventually logged "continue token expired"
check "after the re-list: cli-0 allowed" eventually web_ok cli
check "after the re-list: oth-2 denied" eventually web_no oth
kube_set '{"gone_mode": "event"}'

# ---- dropped connections, split and batched chunks ----
kube_set '{"split_ms": 40, "batch": true}'
kube_ctl /drop >/dev/null
pol_json allow-client other | kube_apply
pol_json extra-1 nobody | kube_apply
check "after a dropped watch, split chunks: oth-2 allowed" eventually web_ok oth
check "after a dropped watch, split chunks: cli-0 denied" eventually web_no cli
kube_set '{"split_ms": 0, "batch": false}'

# ---- token rotation: 401, re-read, recover ----
printf 'tok-2\n' >"$TMP/token"
kube_set '{"token": "tok-2"}'
kube_ctl /drop >/dev/null                  # reconnecting with tok-1 gets 401
pol_json allow-client client | kube_apply
check "token rotated: 401 answered" eventually logged 'HTTP 401'
check "token re-read after the 401" logged 'bearer token changed (401 Unauthorized)'
check "after the rotation: cli-0 allowed" eventually web_ok cli
check "after the rotation: oth-2 denied" eventually web_no oth

# ---- a connection dying in the middle of an event ----
kube_set '{"cut_mid_event": 1}'
pol_json allow-client other | kube_apply
check "an event cut mid-line: re-sent after reconnecting (oth-2 allowed)" eventually web_ok oth
check "an event cut mid-line: (cli-0 denied)" eventually web_no cli
check "the cut event was not applied half (no parse error logged)" eval '! logged "unparsable watch event"'

# ---- API server down: the last state stays in force ----
kube_set '{"down": true}'
check "API down: the agent notices" eventually logged 'the last state stays in force'
check "API down: oth-2 still allowed" stays web_ok oth
check "API down: cli-0 still denied" web_no cli
pol_json allow-client client | kube_apply  # changed while we could not see it
kube_set '{"down": false}'
check "API back: the change made meanwhile is applied (cli-0 allowed)" eventually web_ok cli
check "API back: oth-2 denied" eventually web_no oth
check "agent still running" alive "$AGENT_PID"

# ---- objects of the wrong kind: refused, never stored, no crash loop ----
kube_ctl /inject '{"path": "/api/v1/namespaces", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "intruder", "namespace": "back"}, "status": {"podIP": "10.245.1.99"}}}' >/dev/null
check "a Pod on the namespaces watch: refused, naming the resource and the object" \
	eventually logged 'API namespaces: object back/intruder claims to be \\"Pod\\", not a Namespace; refused'
kube_ctl /inject '{"path": "/api/v1/namespaces", "object": {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"name": "a-list"}, "items": []}}' >/dev/null
check "a NamespaceList on the namespaces watch: refused" eventually logged 'object a-list claims to be \\"NamespaceList\\"'
relists=$(count 'namespaces: listed')
kube_ctl /compact >/dev/null               # the re-list returns both objects too
check "wrong kinds in the re-list: the agent re-lists" after_more 'namespaces: listed' "$relists"
check "wrong kinds: the agent is still running" alive "$AGENT_PID"
check "wrong kinds: enforcement unchanged (cli-0 allowed)" eventually web_ok cli
check "wrong kinds: enforcement unchanged (oth-2 denied)" web_no oth
check "wrong kinds counted in netpol_kube_watch_errors_total{kind=\"wrong-kind\"}" \
	eval 'in_node curl -s http://127.0.0.1:9090/metrics | grep -q "^netpol_kube_watch_errors_total{resource=\"namespaces\",kind=\"wrong-kind\"} [1-9]"'
kube_ctl /inject '{"path": "/api/v1/namespaces", "remove": true}' >/dev/null

# ---- a watch event over the size cap: reported, re-listed, never looped ----
python3 -c 'import json; print(json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "huge", "namespace": "front", "annotations": {"x": "a" * 5000000}}, "spec": {"podSelector": {"matchLabels": {"app": "nothing"}}}}))' >"$TMP/huge.json"
relists=$(count 'networkpolicies: listed')
kube_ctl_file /apply "$TMP/huge.json" >/dev/null
check "a 5 MB watch event: reported as over the cap" eventually logged 'API networkpolicies: a watch event after resourceVersion [0-9]* is longer than 4 MiB'
check "  ... and the resource re-listed instead of watched again at the same resourceVersion" \
	after_more 'networkpolicies: listed' "$relists"
sleep 2
check "  ... once: the watch moved past it (one report in 2 s)" [ "$(count 'is longer than 4 MiB')" -eq 1 ]
pol_json allow-client other | kube_apply
check "  ... later changes are applied again (oth-2 allowed)" eventually web_ok oth
pol_json allow-client client | kube_apply
check "  ... (cli-0 allowed again)" eventually web_ok cli
kube_delete NetworkPolicy front huge

# ---- a version the agent cannot validate never widens access ----
readyz() { in_node curl -s http://127.0.0.1:9090/readyz; }
ctl_status() { in_node "$BUILD/netpolctl" status --pin-path "$PIN" 2>&1; }
kube_delete NetworkPolicy front extra-1      # allow-client alone isolates web-0
pol_json allow-client client | sed 's/"spec":{/"spec":{"futureField":1,/' | kube_apply
check "an invalid version of allow-client: logged, the last good version stays in force" \
	eventually logged 'the last good version of NetworkPolicy front/allow-client stays in force'
check "invalid version: cli-0 still allowed" stays web_ok cli
check "invalid version: oth-2 still denied (not widened)" web_no oth
check "/readyz (200) lists it" eval 'readyz | grep -q "^invalid: NetworkPolicy front/allow-client: last good version in force; .*futureField"'
check "netpolctl status lists it" eval 'ctl_status | grep -q "NetworkPolicy front/allow-client: last good version in force"'
check "netpol_kube_invalid_objects 1" \
	eval 'in_node curl -s http://127.0.0.1:9090/metrics | grep -q "^netpol_kube_invalid_objects 1$"'
kube_delete NetworkPolicy front allow-client
check "the invalid policy deleted: oth-2 allowed" eventually web_ok oth
pol_json isolate-web client | sed 's/"spec":{/"spec":{"futureField":1,/' | kube_apply
check "a new policy seen only invalid isolates what it selects, no rules: oth-2 denied" eventually web_no oth
check "  ... and cli-0 denied (its rules are not trusted)" web_no cli
check "  ... logged as isolation only" logged 'NetworkPolicy front/isolate-web isolates the pods it selects with no rules'
check "/readyz says isolation only" eval 'readyz | grep -q "^invalid: NetworkPolicy front/isolate-web: isolation only (no rules) in force"'
pol_json isolate-web client | kube_apply
check "a valid version replaces it: cli-0 allowed" eventually web_ok cli
check "  ... oth-2 denied" web_no oth
check "  ... and /readyz lists nothing invalid" eval '! readyz | grep -q "^invalid:"'
kube_delete NetworkPolicy front isolate-web
pol_json allow-client client | kube_apply
pol_json extra-1 nobody | kube_apply
check "allow-client back: cli-0 allowed" eventually web_ok cli
check "allow-client back: oth-2 denied" eventually web_no oth

stop_pid "$AGENT_PID"
check "agent exits 0 on SIGTERM" [ $? -eq 0 ]
AGENT_PID=
check "API load summary logged at exit" logged 'API: [0-9]* requests ([0-9]* lists, [0-9]* watches)'

# ---- restart while the API is down; client certificate authentication ----
kube_config_cert
kube_set '{"down": true}'
NETPOL_KUBE_BACKOFF_MAX_MS=1500 \
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --kubeconfig "$TMP/kubeconfig-cert" \
	--node-name k8s-node --pin-path "$PIN" --log-level info >/dev/null 2>>"$LOG" &
AGENT_PID=$!
sleep 2
check "restarted with the API down: not ready (no initial lists)" [ "$(count 'msg="ready')" -eq 1 ]
kill -HUP "$AGENT_PID"
sleep 0.3
check "SIGHUP while waiting for the lists: still running" alive "$AGENT_PID"
check "restarted with the API down: the pinned state stays (cli-0 allowed)" web_ok cli
check "restarted with the API down: the pinned state stays (oth-2 denied)" web_no oth
kube_set '{"down": false}'
check "API back: ready once the initial lists are applied" wait_for_count "$LOG" 'msg="ready' 2 100
cert_auths() { kube_ctl_get | python3 -c 'import json,sys; print(json.load(sys.stdin)["cert_auth"])'; }
check "client certificate authentication (kubeconfig -data forms)" [ "$(cert_auths)" -gt 0 ]
check "after the restart: cli-0 allowed" web_ok cli
check "after the restart: oth-2 denied" web_no oth
stop_pid "$AGENT_PID"
AGENT_PID=

# ---- in-cluster configuration; the token file re-read periodically ----
mkdir -p "$TMP/sa"
cp "$TMP/ca.crt" "$TMP/sa/ca.crt"
printf 'tok-3' >"$TMP/sa/token"
kube_set '{"token": "tok-3"}'
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$KUBE_PORT \
	NETPOL_KUBE_SA_DIR=$TMP/sa NETPOL_KUBE_TOKEN_REREAD_MS=300 NETPOL_KUBE_BACKOFF_MAX_MS=1500 \
	nsenter --net="/run/netns/$NODE_NS" "$AGENT" --kubernetes --node-name k8s-node \
	--pin-path "$PIN" --log-level info >/dev/null 2>>"$LOG" &
AGENT_PID=$!
check "in-cluster configuration (service account token and CA): ready" wait_for_count "$LOG" 'msg="ready' 3 100
check "in-cluster: the API server named from KUBERNETES_SERVICE_HOST/PORT" logged "from https://127.0.0.1:$KUBE_PORT (in-cluster config)"
unauthorized() { kube_ctl_get | python3 -c 'import json,sys; print(json.load(sys.stdin)["unauthorized"])'; }
before=$(unauthorized)
printf 'tok-4' >"$TMP/sa/token"            # the kubelet rotates the token...
kube_set '{"token": "tok-4"}'              # ...and the API server takes the new one
check "rotated token picked up by the periodic re-read" eventually logged 'bearer token changed (periodic re-read)'
kube_ctl /drop >/dev/null
pol_json allow-client other | kube_apply
check "after a periodic re-read: reconnected without a 401" eventually web_ok oth
check "no 401 was needed" [ "$(unauthorized)" -eq "$before" ]
stop_pid "$AGENT_PID"
AGENT_PID=
finish
