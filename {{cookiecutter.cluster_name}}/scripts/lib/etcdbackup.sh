# shellcheck shell=bash
# etcd v2 backup and restore (the tutorial's etcd2 keeps the cluster's state in the v2 store),
# following the etcd v2 admin guide's "Disaster Recovery" (etcd-io/etcd
# Documentation/v2/admin_guide.md): `etcdctl backup --data-dir D --backup-dir B` copies a
# functioning member's data dir (the newest snapshot plus the WAL up to its last complete
# record: a consistent point of the log; the WAL reader in read mode tolerates a torn last
# record), rewriting the node and cluster IDs so that it cannot rejoin the old cluster. To
# restore, etcd starts once on it with --force-new-cluster (a one-member cluster with the whole
# store; its peer URL reset to http://localhost:2380, hence `member update`), is restarted
# normally, and the other members join again one by one (`member add`, an empty data dir,
# initial-cluster-state existing). The remote commands are built here, one function each, so
# the tests run the very same text against the real etcd.

# CoreOS's etcd2.service sets ETCD_DATA_DIR=/var/lib/etcd2 (the cloud-configs leave it); the
# backup's scratch copy on the member; the archive and key list names in backups/<stamp>/.
# A runtime drop-in (gone at the next boot) starts etcd2 once with --force-new-cluster.
# shellcheck disable=SC2034 # read by backup.sh and restore.sh
{
  ETCD_DATA_DIR=${ETCD_DATA_DIR:-/var/lib/etcd2}
  ETCD_KEPT_DIR=${ETCD_KEPT_DIR:-$ETCD_DATA_DIR.before-restore}
  ETCD_BACKUP_TMP=${ETCD_BACKUP_TMP:-/tmp/etcd2-backup}
  ETCD_ARCHIVE=etcd2-data.tar.gz
  ETCD_KEY_LIST=keys.txt
  BACKUP_ROOT=backups
  ETCD_RESTORE_DROPIN=/run/systemd/system/etcd2.service.d/90-force-new-cluster.conf
  ETCD_SYNC_KEY=/_k8s-do/backup
}

# etcd_backup_cmd: on a member, as root: `etcdctl backup` of the live data dir, written to
# stdout as a tar.gz of its member/ directory; the scratch copy is removed.
etcd_backup_cmd() {
  echo "sudo rm -rf $ETCD_BACKUP_TMP && sudo etcdctl backup --data-dir $ETCD_DATA_DIR" \
    "--backup-dir $ETCD_BACKUP_TMP && sudo tar -C $ETCD_BACKUP_TMP -czf - member &&" \
    "sudo rm -rf $ETCD_BACKUP_TMP"
}

# etcd_sync_cmd: a write of the hidden key ETCD_SYNC_KEY (hidden: `_`, listed nowhere) through
# the member. etcd syncs its WAL only when it appends entries: the commit index of the last
# writes before it may sit unsynced in the WAL's buffer, and `etcdctl backup` would copy them
# as uncommitted (dropped by --force-new-cluster). After this write every key listed before
# it is in the copy.
etcd_sync_cmd() {
  etcd_local_cmd set "$ETCD_SYNC_KEY" "$1"
}

# etcd_local_cmd ARGS...: etcdctl (v2) on a member against its own plain-http loopback client
# listener (listen-client-urls' http://127.0.0.1: no client certificate there).
etcd_local_cmd() {
  echo "etcdctl --no-sync --endpoint http://127.0.0.1:$ETCD_CLIENT_PORT $*"
}

# etcd_version_cmd: the member's etcd release (etcdctl ships with it): "etcdctl version 2.2.3"
# (etcd 2.x), "etcdctl version: 3.4.23" (3.x).
etcd_version_cmd() {
  echo "etcdctl --version"
}

# etcd_keys_cmd: every key and directory of the store (`ls --recursive -p`: directories end
# in /); key_count < that output: the keys.
etcd_keys_cmd() {
  etcd_local_cmd ls --recursive -p
}

key_count() {
  grep -cv '/$' || true
}

# etcd_archive_check_cmd SHA256: on a member, the copied archive is the one checked here
# (sha256sum) and reads as a tar.gz; run on every member before anything is stopped.
etcd_archive_check_cmd() {
  echo "[ \"\$(sha256sum $ETCD_ARCHIVE)\" = \"$1  $ETCD_ARCHIVE\" ] && tar -tzf $ETCD_ARCHIVE >/dev/null"
}

# etcd_keep_data_cmd: on a member whose etcd2 is stopped, as root: its data dir moved aside to
# ETCD_KEPT_DIR (the way back until the restored cluster is healthy). A kept dir from an
# earlier, failed restore is the data before it: kept, and the data dir (partly restored) goes.
etcd_keep_data_cmd() {
  echo "if sudo test -d $ETCD_KEPT_DIR; then sudo rm -rf $ETCD_DATA_DIR;" \
    "elif sudo test -d $ETCD_DATA_DIR; then sudo mv $ETCD_DATA_DIR $ETCD_KEPT_DIR; fi"
}

# etcd_unpack_cmd: on a member whose etcd2 is stopped, as root: the data dir kept aside, the
# archive in the login user's home unpacked as the new one, owned by etcd, 0700 as etcd wants.
etcd_unpack_cmd() {
  echo "$(etcd_keep_data_cmd) && sudo mkdir -p $ETCD_DATA_DIR &&" \
    "sudo tar -xzf $ETCD_ARCHIVE -C $ETCD_DATA_DIR && sudo chown -R etcd:etcd $ETCD_DATA_DIR &&" \
    "sudo chmod 700 $ETCD_DATA_DIR"
}

# etcd_way_back_cmd: the data before the restore back in place and etcd2 started with it.
etcd_way_back_cmd() {
  echo "sudo systemctl stop etcd2; sudo rm -f $ETCD_RESTORE_DROPIN && sudo systemctl daemon-reload &&" \
    "if sudo test -d $ETCD_KEPT_DIR; then sudo rm -rf $ETCD_DATA_DIR && sudo mv $ETCD_KEPT_DIR $ETCD_DATA_DIR; fi &&" \
    "sudo systemctl start etcd2"
}

# etcd_restore_dropin: the drop-in's text (ETCD_FORCE_NEW_CLUSTER is etcd's --force-new-cluster).
etcd_restore_dropin() {
  printf '[Service]\nEnvironment=ETCD_FORCE_NEW_CLUSTER=true\n'
}

# etcd_rejoin_env MEMBER INITIAL_CLUSTER: a member that joins the restored cluster again.
etcd_rejoin_env() {
  etcd_cluster_env "$1" "$2"
  echo "ETCD_INITIAL_CLUSTER_STATE=existing"
}
