#!/usr/bin/env bash
# make diagram: build/topology.{dot,svg,png} with graphviz's dot: the droplets by role with their
# names, sizes and IPs (from state/droplets/, written by the apply; "planned" before), and the
# flows between them with their ports, every one read from settings.env. Offline: no API call.
# usage: scripts/diagram.sh [--planned] [--no-png] [--out PREFIX]   (PREFIX: build/topology)
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# node_label NAME ROLE SIZE: a droplet's box, with its IPs when state/ has them.
node_stmt() {
  local name=$1 role=$2 size=$3 file pub="" priv="" style=filled color
  file=$(state_file "$name")
  if [[ "$PLANNED" == no && -s "$file" ]]; then
    IFS=$'\t' read -r pub priv < <(jq -r '[.public_ip // "", .private_ip // ""] | @tsv' "$file")
  fi
  case $role in
    etcd) color="#fde9c9" ;;
    controller) color="#d7e8fb" ;;
    *) color="#dff2df" ;;
  esac
  local ips="planned: IPs once created"
  if [[ -n "$pub$priv" ]]; then
    ips="public ${pub:--}\\nprivate ${priv:--}"
  else
    style="filled,dashed"
  fi
  printf '    "%s" [label="%s\\n%s (%s)\\n%s", style="rounded,%s", fillcolor="%s"];\n' \
    "$name" "$name" "$role" "$size" "$ips" "$style" "$color"
}

# workers: the worker names to draw: WORKERS (default WORKER_COUNT), plus any recorded in state/.
workers() {
  local nn f
  {
    for ((nn = 1; nn <= 10#${WORKERS:-$WORKER_COUNT}; nn++)); do
      worker_name "$nn"
      echo
    done
    if [[ "$PLANNED" == no ]]; then
      for f in "$DROPLET_STATE_DIR/$WORKER_PREFIX"-*.json; do
        [[ -e "$f" ]] || continue
        basename "$f" .json
      done
    fi
  } | sort -u
}

# Past a handful of workers, the first few are drawn and one box stands for the rest.
WORKERS_DRAWN=5
WORKERS_BEFORE_GROUP=3

# group_box NAME...: the box standing for the workers not drawn one by one (how many, their
# names' range, how many are created).
group_box() {
  local created=0 name file state="planned" style=",dashed"
  if [[ "$PLANNED" == no ]]; then
    for name in "$@"; do
      file=$(state_file "$name")
      [[ ! -s "$file" ]] || created=$((created + 1))
    done
    state="$created created, $(($# - created)) planned"
    ((created < $#)) || style=""
  fi
  printf '    "workers_rest" [label="%s more workers\\n%s .. %s\\nworker (%s)\\n%s", style="rounded,filled%s", fillcolor="#dff2df", peripheries=2];\n' \
    "$#" "$1" "${!#}" "$WORKER_SIZE" "$state" "$style"
}

# edge FROM TO LABEL [ATTRS]: one flow. Between groups (compound=true) it ends at the group's
# border (ltail/lhead in ATTRS): one edge stands for the flow of every droplet in the group.
edge() {
  printf '  "%s" -> "%s" [label="%s"%s];\n' "$1" "$2" "$3" "${4:+, $4}"
}

# mesh NAME...: every pair linked once, without arrows or labels (the group's label names it),
# on the members' outer (east) side, away from the flows that come in from the west.
mesh() {
  local i j names=("$@")
  for ((i = 0; i < ${#names[@]}; i++)); do
    for ((j = i + 1; j < ${#names[@]}; j++)); do
      printf '    "%s":e -> "%s":e [dir=none, color="#c98a2b", constraint=false];\n' "${names[i]}" "${names[j]}"
    done
  done
}

topology_dot() {
  local when="planned from settings.env" c names=() ctls=() etcds=() shown=() rest=()
  [[ "$PLANNED" == yes ]] || when="droplets as recorded in state/droplets/ ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  mapfile -t names < <(workers)
  mapfile -t ctls < <(controller_names)
  mapfile -t etcds < <(etcd_names)
  shown=("${names[@]}")
  if ((${#names[@]} > WORKERS_DRAWN)); then
    shown=("${names[@]:0:WORKERS_BEFORE_GROUP}")
    rest=("${names[@]:WORKERS_BEFORE_GROUP}")
  fi
  # each group's anchor: the node its group edges start or end at
  local etcd_at=${etcds[${#etcds[@]} / 2]} ctl_at=${ctls[0]} worker_at=${shown[0]}
  local api=$ctl_at to_api=""
  if lb_wanted; then
    api=$LOAD_BALANCER
  elif ((${#ctls[@]} > 1)); then
    to_api=', lhead="cluster_controller"'
  fi
  local peers=""
  ((${#etcds[@]} == 1)) || peers=", peers meshed on $ETCD_PEER_PORT/tcp (private)"
  cat <<EOF
digraph topology {
  graph [rankdir=LR, compound=true, fontname="Helvetica", fontsize=12, labelloc=t, nodesep=0.3,
         ranksep=1.0, size="20,20",
         label="Cluster $CLUSTER_NAME in $REGION: $(image_label), Kubernetes $KUBERNETES_VERSION\\n$when"];
  node [shape=box, fontname="Helvetica", fontsize=10];
  edge [fontname="Helvetica", fontsize=9];
  operator [label="operator\\n(make, doctl, ssh, kubectl)", shape=ellipse, style=filled, fillcolor="#eeeeee"];
  internet [label="clients\\n(NodePort services)", shape=ellipse, style=filled, fillcolor="#eeeeee"];
  subgraph cluster_etcd {
    label="etcd (${#etcds[@]}$peers)"; color="#c98a2b";
$(for c in "${etcds[@]}"; do node_stmt "$c" etcd "$ETCD_SIZE"; done)
$(mesh "${etcds[@]}")
  }
  subgraph cluster_controller {
    label="controllers (${#ctls[@]})"; color="#2b6cc9";
$(for c in "${ctls[@]}"; do node_stmt "$c" controller "$CONTROLLER_SIZE"; done)
  }$(! lb_wanted || printf '\n  "%s" [label="%s\\nload balancer, tcp %s", shape=hexagon, style=filled, fillcolor="#dde7f7"];' \
    "$LOAD_BALANCER" "$LOAD_BALANCER" "$APISERVER_SECURE_PORT")
  subgraph cluster_workers {
    label="workers (${#names[@]})"; color="#2b9a3a";
$(for c in "${shown[@]}"; do node_stmt "$c" worker "$WORKER_SIZE"; done)
$( ((${#rest[@]} == 0)) || group_box "${rest[@]}")
  }
EOF
  edge operator "$api" "kubectl\\nhttps $APISERVER_SECURE_PORT/tcp" "color=\"#2b6cc9\"$to_api"
  if lb_wanted; then
    edge "$api" "$ctl_at" "tcp $APISERVER_SECURE_PORT to every controller\\n(health check tcp)" \
      'color="#2b6cc9", lhead="cluster_controller"'
  fi
  for c in etcd:"$etcd_at" controller:"$ctl_at" workers:"$worker_at"; do
    edge operator "${c#*:}" "ssh $SSH_PORT/tcp" "style=dashed, color=\"#888888\", lhead=\"cluster_${c%%:*}\""
  done
  # who talks to etcd (ETCD_CLIENTS, scripts/lib/profile.sh): every node's proxy, which knows
  # every member's peer URL, or the apiservers alone, with their etcd client certificate
  local clients=(controller:"$ctl_at") label="etcd client (mutual TLS)\\n$ETCD_CLIENT_PORT/tcp (private)"
  if [[ "$ETCD_CLIENTS" == proxies ]]; then
    clients+=(workers:"$worker_at")
    label="etcd proxy: client $ETCD_CLIENT_PORT/tcp,\\npeer $ETCD_PEER_PORT/tcp (private)"
  fi
  ((${#etcds[@]} == 1)) || label+=",\\nto every member"
  for c in "${clients[@]}"; do
    edge "${c#*:}" "$etcd_at" "$label" "color=\"#c98a2b\", ltail=\"cluster_${c%%:*}\", lhead=\"cluster_etcd\""
  done
  # back towards the controllers: no say in the ranks (operator, controllers, workers, etcd)
  edge "$worker_at" "$api" "apiserver\\nhttps $APISERVER_SECURE_PORT/tcp" \
    "color=\"#2b6cc9\", constraint=false, ltail=\"cluster_workers\"$to_api"
  edge "$ctl_at" "$worker_at" "kubelet $KUBELET_PORT/tcp" \
    'color="#555555", ltail="cluster_controller", lhead="cluster_workers"'
  if [[ -n "$FLANNEL_PORT" ]]; then
    edge "$ctl_at" "$worker_at" "flannel $FLANNEL_BACKEND\\n$FLANNEL_PORT (private),\\nbetween every node" \
      'dir=both, style=dotted, color="#2b9a3a", ltail="cluster_controller", lhead="cluster_workers"'
  fi
  edge internet "$worker_at" "NodePorts\\n$NODE_PORT_RANGE/tcp" 'color="#7a3fb0", lhead="cluster_workers"'
  echo "}"
}

main() {
  PLANNED=no
  local out=$BUILD_DIR/topology formats=(dot svg png)
  while (($#)); do
    case $1 in
      --planned) PLANNED=yes ;;
      --no-png) formats=(dot svg) ;;
      --out) out=${2:?--out needs a path prefix}; shift ;;
      *) die "usage: $0 [--planned] [--no-png] [--out PREFIX]" ;;
    esac
    shift
  done
  require_tools dot jq
  mkdir -p "$(dirname "$out")"
  step "topology of $CLUSTER_NAME ($([[ "$PLANNED" == yes ]] && echo planned || echo "from $DROPLET_STATE_DIR/"))"
  topology_dot >"$out.dot.tmp"
  local f
  for f in "${formats[@]:1}"; do
    dot "-T$f" -Gdpi=96 "$out.dot.tmp" -o "$out.$f.tmp" || die "dot rejected $out.dot.tmp"
  done
  for f in "${formats[@]}"; do
    mv "$out.$f.tmp" "$out.$f"
  done
  step_done
  summary "topology of $CLUSTER_NAME" "${formats[@]/#/$out.}"
}

main "$@"
