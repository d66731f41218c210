#!/usr/bin/env bash
# The real Apache Kafka broker of the test rig: KRaft combined mode on 127.0.0.1, free ports,
#   SASL_SSL + OAUTHBEARER (tokens validated by the broker against the test issuer's JWKS),
#   PLAINTEXT (admin, kcat), CONTROLLER; StandardAuthorizer with ACLs for the test principals.
#
#   kafka-rig.sh start DIR        make CA, certificates, issuer keys, JWKS; format; start; wait; add ACLs;
#                                 write DIR/rig.env (read by the tests through $GRACEDB_RIG_ENV)
#   kafka-rig.sh stop DIR         stop the broker (TERM, then KILL after 20 s); idempotent
#   kafka-rig.sh stop-broker DIR  stop only the process, keep its data (for restart tests)
#   kafka-rig.sh start-broker DIR start it again on the same ports and data, wait until ready
#
# A replicated cluster (the chaos tests): three KRaft nodes in combined mode (3 controller voters), each with
# the same three listeners and ACLs; replication factor 3, min.insync.replicas=2, unclean leader election off.
#   kafka-rig.sh cluster-start DIR     like start, with DIR/node1..3; DIR/rig.env lists all three brokers
#   kafka-rig.sh cluster-stop DIR      stop every node (TERM, then KILL after 20 s); idempotent
#   kafka-rig.sh kill-node DIR N       SIGKILL node N (its node.id and broker id is N); returns once it is gone
#   kafka-rig.sh start-node DIR N      start node N again on its ports and data, wait until it answers
#   kafka-rig.sh pause-node DIR N      SIGSTOP node N;  resume-node DIR N: SIGCONT it
#
# Environment: RIG_TOOL (the rig-tool binary), KAFKA_LIBS (folder of the broker's jars; filled by Maven
# from tests/rig/pom.xml when empty), JAVA (default: java).
set -euo pipefail

cmd=${1:?usage: kafka-rig.sh start|stop|stop-broker|start-broker|cluster-start|cluster-stop|kill-node|start-node|pause-node|resume-node DIR [N]}
dir=${2:?usage: kafka-rig.sh $cmd DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JAVA=${JAVA:-java}
KAFKA_LIBS=${KAFKA_LIBS:-$dir/../kafka-libs}
RIG_TOOL=${RIG_TOOL:-rig-tool}
ISSUER=https://issuer.rig.gracedb-cpp.test
KID=rig-key-1
PRINCIPALS=(User:pipeline User:supervisor User:follower)
TOPIC_PREFIXES=(rig. gracedb-test. gracedb-dev. sandbox. localhost. gracedb-deadletter. gracedb-alerts. gracedb-heartbeat. sup)
DENIED_TOPIC=forbidden.topic

log() { echo "kafka-rig: $*" >&2; }

fetch_jars() {
  if ls "$KAFKA_LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then return; fi
  log "resolving Apache Kafka's jars with Maven into $KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIBS" >&2
}

free_ports() {  # ${1:-3} distinct free TCP ports on 127.0.0.1
  python3 - "${1:-3}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

make_tls() {
  local t=$dir/tls
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=gracedb-cpp test CA" \
      -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=gracedb-cpp other CA" \
      -keyout "$t/other-ca.key" -out "$t/other-ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 3 \
      -extfile "$t/server.ext" -out "$t/server.pem" 2>/dev/null
  # PEM keystore: the PKCS#8 key, then the chain.
  cat "$t/server.key" "$t/server.pem" "$t/ca.pem" > "$t/server-keystore.pem"
  chmod 600 "$t"/*.key "$t/server-keystore.pem"
}

make_issuer() {
  local k=$dir/issuer
  mkdir -p "$k"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/issuer.key" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/other.key" 2>/dev/null
  chmod 600 "$k"/*.key
  "$RIG_TOOL" jwks --key "$k/issuer.key" --kid "$KID" > "$k/jwks.json"
}

# write_config NODE_DIR NODE_ID SASL PLAIN CTRL VOTERS PROFILE: NODE_DIR/server.properties (and the shared
# DIR/log4j.properties). PROFILE "single": the fast one-node profile; "cluster": replicated, see profile_cluster.
write_config() {
  local nd=$1 id=$2 sasl=$3 plain=$4 ctrl=$5 voters=$6 profile=$7
  mkdir -p "$nd/data"
  cat > "$nd/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=SASL_SSL://127.0.0.1:$sasl,PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=SASL_SSL://127.0.0.1:$sasl,PLAINTEXT://127.0.0.1:$plain
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$nd/data

# OAUTHBEARER, validated by the broker itself against the test issuer's JWKS.
sasl.enabled.mechanisms=OAUTHBEARER
listener.name.sasl_ssl.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;
sasl.oauthbearer.jwks.endpoint.url=file://$dir/issuer/jwks.json
sasl.oauthbearer.expected.audience=127.0.0.1,localhost
sasl.oauthbearer.expected.issuer=$ISSUER
sasl.oauthbearer.clock.skew.seconds=2
# Sessions end at the token's exp (KIP-368): clients must reconnect or re-authenticate with a fresh token.
connections.max.reauth.ms=3600000

# TLS with a PEM keystore (no keytool).
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/server-keystore.pem
ssl.client.auth=none

# Authorization: the plaintext listeners are ANONYMOUS and super users (the broker talks to itself there).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false

PROPS
  "profile_$profile" >> "$nd/server.properties"
  cat > "$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=WARN
log4j.logger.kafka.authorizer.logger=INFO
PROPS
}

profile_single() {
  cat <<'PROPS'
# A fast single-node profile for tests.
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
log.retention.check.interval.ms=600000
PROPS
}

profile_cluster() {
  cat <<'PROPS'
# A replicated profile: nothing acknowledged with acks=all is lost while one node is down.
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# A stopped or paused node is fenced, and leaves the ISRs, within seconds rather than half a minute.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=8000
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.retention.check.interval.ms=600000
PROPS
}

# launch [NODE_DIR [HEAP]]: start the JVM of one node (default: the single broker in DIR).
launch() {
  local nd=${1:-$dir} heap=${2:--Xms256m -Xmx512m}
  # setsid: the broker outlives the fixture step that started it; stopped by "stop".
  # shellcheck disable=SC2086
  setsid "$JAVA" $heap -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dlog4j.configuration="file:$dir/log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$nd/server.properties" >> "$nd/broker.log" 2>&1 < /dev/null &
  echo $! > "$nd/broker.pid"
}

# wait_ready [PLAIN_BOOTSTRAP [NODE_DIR [MIN_BROKERS]]]: until the listener answers a metadata request
# listing at least MIN_BROKERS brokers (not a sleep); on failure show the log, stop the node, fail.
wait_ready() {
  local plain=${1:-} nd=${2:-$dir} brokers=${3:-1}
  [ -n "$plain" ] || plain=$(grep '^RIG_PLAIN_BOOTSTRAP=' "$dir/rig.env" | cut -d= -f2)
  if ! "$RIG_TOOL" wait-ready --bootstrap "$plain" --brokers "$brokers" --timeout 120 >&2; then
    log "the broker did not become ready; the end of $nd/broker.log:"
    tail -40 "$nd/broker.log" >&2 || true
    stop_broker "$nd"
    exit 1
  fi
}

alive() {  # a process that exists and is not a zombie (nobody may reap a broker whose parent is gone)
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# stop_broker [NODE_DIR [GRACE_TENTHS]]: TERM, then KILL after the grace period (default 20 s).
stop_broker() {
  local nd=${1:-$dir} grace=${2:-200}
  [ -f "$nd/broker.pid" ] || return 0
  local pid
  pid=$(cat "$nd/broker.pid")
  if alive "$pid"; then
    kill -CONT "$pid" 2>/dev/null || true  # a paused node cannot act on TERM
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 "$grace"); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "broker $pid ignored TERM for $((grace / 10)) s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$nd/broker.pid"
}

# --- the cluster -------------------------------------------------------------------------------------
NODES=(1 2 3)
CLUSTER_HEAP="-Xms128m -Xmx384m"

env_value() { grep "^$1=" "$dir/rig.env" | cut -d= -f2-; }

node_dir() {
  local n=${1:?node number}
  case $n in 1|2|3) echo "$dir/node$n" ;; *) log "no node $n (nodes are 1, 2, 3)"; exit 2 ;; esac
}

node_pid() {
  local nd
  nd=$(node_dir "$1")
  [ -f "$nd/broker.pid" ] && cat "$nd/broker.pid"
}

cluster_stop() {
  local n nd pid
  for n in "${NODES[@]}"; do  # TERM them all at once: a lone last node cannot shut down in order
    nd=$dir/node$n
    [ -f "$nd/broker.pid" ] || continue
    pid=$(cat "$nd/broker.pid")
    alive "$pid" && { kill -CONT "$pid"; kill -TERM "$pid"; } 2>/dev/null || true
  done
  for n in "${NODES[@]}"; do stop_broker "$dir/node$n" 100; done
}

cluster_start() {
  local t0 t1 t2 t3 ports n voters="" cluster_id
  t0=$(date +%s.%N)
  [ -d "$dir" ] && cluster_stop
  rm -rf "$dir"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  fetch_jars
  read -r -a ports < <(free_ports 9)  # node n: sasl ports[3n-3], plain ports[3n-2], controller ports[3n-1]
  make_tls
  make_issuer
  for n in "${NODES[@]}"; do voters+="${voters:+,}$n@127.0.0.1:${ports[3 * n - 1]}"; done
  cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  local sasl_list="" plain_list=""
  for n in "${NODES[@]}"; do
    write_config "$dir/node$n" "$n" "${ports[3 * n - 3]}" "${ports[3 * n - 2]}" "${ports[3 * n - 1]}" "$voters" cluster
    sasl_list+="${sasl_list:+,}127.0.0.1:${ports[3 * n - 3]}"
    plain_list+="${plain_list:+,}127.0.0.1:${ports[3 * n - 2]}"
  done
  for n in "${NODES[@]}"; do  # one JVM at a time: 2 cores
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/node$n/server.properties" \
        > "$dir/node$n/format.log" 2>&1 || { cat "$dir/node$n/format.log" >&2; exit 1; }
  done
  {
    echo "# Written by tests/rig/kafka-rig.sh cluster-start; read by the chaos tests through \$GRACEDB_RIG_ENV."
    echo "RIG_SASL_BOOTSTRAP=$sasl_list"
    echo "RIG_PLAIN_BOOTSTRAP=$plain_list"
    echo "RIG_CA=$dir/tls/ca.pem"
    echo "RIG_OTHER_CA=$dir/tls/other-ca.pem"
    echo "RIG_ISSUER=$ISSUER"
    echo "RIG_AUDIENCE=127.0.0.1"
    echo "RIG_KEY=$dir/issuer/issuer.key"
    echo "RIG_KID=$KID"
    echo "RIG_OTHER_KEY=$dir/issuer/other.key"
    echo "RIG_DIR=$dir"
    echo "RIG_SCRIPT=$here/kafka-rig.sh"
    echo "RIG_ALLOWED_PREFIX=rig."
    echo "RIG_DENIED_TOPIC=$DENIED_TOPIC"
    echo "RIG_TOOL=$(command -v "$RIG_TOOL")"
    echo "KAFKA_LIBS=$(cd "$KAFKA_LIBS" && pwd)"
    echo "RIG_NODES=${#NODES[@]}"
    for n in "${NODES[@]}"; do
      echo "RIG_NODE${n}_SASL=127.0.0.1:${ports[3 * n - 3]}"
      echo "RIG_NODE${n}_PLAIN=127.0.0.1:${ports[3 * n - 2]}"
    done
  } > "$dir/rig.env"
  t1=$(date +%s.%N)
  for n in "${NODES[@]}"; do launch "$dir/node$n" "$CLUSTER_HEAP"; done
  for n in "${NODES[@]}"; do wait_ready "127.0.0.1:${ports[3 * n - 2]}" "$dir/node$n" 3; done
  t2=$(date +%s.%N)
  local acl_args=() p
  for p in "${PRINCIPALS[@]}"; do acl_args+=(--principal "$p"); done
  for p in "${TOPIC_PREFIXES[@]}"; do acl_args+=(--topic-prefix "$p"); done
  "$RIG_TOOL" acl --bootstrap "$plain_list" "${acl_args[@]}" >&2
  t3=$(date +%s.%N)
  awk -v pids="$(cat "$dir"/node*/broker.pid | tr '\n' ' ')" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
      printf "kafka-rig: cluster of 3 nodes up (pids %s): set-up %.1f s, JVM start to ready %.1f s, ACLs %.1f s\n",
             pids, b - a, c - b, d - c }'
}

case $cmd in
  start)
    t0=$(date +%s.%N)
    [ -f "$dir/broker.pid" ] && stop_broker
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    fetch_jars
    read -r sasl plain ctrl < <(free_ports)
    make_tls
    make_issuer
    write_config "$dir" 1 "$sasl" "$plain" "$ctrl" "1@127.0.0.1:$ctrl" single
    # --cluster-id=ID, not -t ID: a random id may begin with "-", which the tool would take for an option.
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/server.properties" \
        > "$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; exit 1; }
    cat > "$dir/rig.env" <<ENV
# Written by tests/rig/kafka-rig.sh; read by the tests through \$GRACEDB_RIG_ENV.
RIG_SASL_BOOTSTRAP=127.0.0.1:$sasl
RIG_PLAIN_BOOTSTRAP=127.0.0.1:$plain
RIG_CA=$dir/tls/ca.pem
RIG_OTHER_CA=$dir/tls/other-ca.pem
RIG_ISSUER=$ISSUER
RIG_AUDIENCE=127.0.0.1
RIG_KEY=$dir/issuer/issuer.key
RIG_KID=$KID
RIG_OTHER_KEY=$dir/issuer/other.key
RIG_DIR=$dir
RIG_SCRIPT=$here/kafka-rig.sh
RIG_ALLOWED_PREFIX=rig.
RIG_DENIED_TOPIC=$DENIED_TOPIC
RIG_TOOL=$(command -v "$RIG_TOOL")
KAFKA_LIBS=$(cd "$KAFKA_LIBS" && pwd)
ENV
    t1=$(date +%s.%N)
    launch
    wait_ready
    t2=$(date +%s.%N)
    acl_args=()
    for p in "${PRINCIPALS[@]}"; do acl_args+=(--principal "$p"); done
    for p in "${TOPIC_PREFIXES[@]}"; do acl_args+=(--topic-prefix "$p"); done
    "$RIG_TOOL" acl --bootstrap "127.0.0.1:$plain" "${acl_args[@]}" >&2
    t3=$(date +%s.%N)
    awk -v pid="$(cat "$dir/broker.pid")" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
        printf "kafka-rig: broker pid %s up: set-up %.1f s, JVM start to ready %.1f s, ACLs %.1f s\n",
               pid, b - a, c - b, d - c }'
    ;;
  stop)
    stop_broker
    ;;
  stop-broker)
    stop_broker
    ;;
  start-broker)
    RIG_TOOL=$(env_value RIG_TOOL)
    KAFKA_LIBS=$(env_value KAFKA_LIBS)
    [ -f "$dir/broker.pid" ] && alive "$(cat "$dir/broker.pid")" && exit 0
    launch
    wait_ready
    ;;
  cluster-start)
    cluster_start
    ;;
  cluster-stop)
    cluster_stop
    ;;
  kill-node)
    pid=$(node_pid "${3:?usage: kafka-rig.sh kill-node DIR N}") || { log "node $3 is not running"; exit 1; }
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && { log "node $3 (pid $pid) survived SIGKILL for 10 s"; exit 1; }
    rm -f "$(node_dir "$3")/broker.pid"
    log "node $3 (pid $pid) killed"
    ;;
  start-node)
    nd=$(node_dir "${3:?usage: kafka-rig.sh start-node DIR N}")
    RIG_TOOL=$(env_value RIG_TOOL)
    KAFKA_LIBS=$(env_value KAFKA_LIBS)
    [ -f "$nd/broker.pid" ] && alive "$(cat "$nd/broker.pid")" && exit 0
    launch "$nd" "$CLUSTER_HEAP"
    wait_ready "$(env_value "RIG_NODE${3}_PLAIN")" "$nd" 1
    log "node $3 (pid $(cat "$nd/broker.pid")) running again"
    ;;
  pause-node|resume-node)
    pid=$(node_pid "${3:?usage: kafka-rig.sh $cmd DIR N}") || { log "node $3 is not running"; exit 1; }
    if [ "$cmd" = pause-node ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    ;;
  *)
    echo "usage: kafka-rig.sh start|stop|stop-broker|start-broker|cluster-start|cluster-stop DIR" >&2
    echo "       kafka-rig.sh kill-node|start-node|pause-node|resume-node DIR N" >&2
    exit 2
    ;;
esac
