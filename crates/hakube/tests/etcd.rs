//! The etcd v3 API (:12379, mutual TLS) with the real `etcdctl` (Debian's etcd-client 3.4) and
//! with the `etcd-client` crate, against 3-node clusters. Loopback ranges 127.21.20–24.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, wait_until};
use serde_json::Value;

/// etcdctl's settings for node K, from `hakube config --etcd`.
fn etcd_env(cluster: &Cluster, k: usize) -> Vec<(String, String)> {
    let run = cluster.on(k, &["config", "--etcd"]);
    assert!(run.ok(), "config --etcd: {}", run.stderr);
    let env: Vec<(String, String)> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ETCDCTL_API",
            "ETCDCTL_ENDPOINTS",
            "ETCDCTL_CACERT",
            "ETCDCTL_CERT",
            "ETCDCTL_KEY"
        ]
    );
    assert_eq!(env[0].1, "3");
    assert_eq!(
        env[1].1,
        format!("https://{}:12379", cluster.address(k)),
        "this node's endpoint"
    );
    for (_, path) in &env[2..] {
        assert!(path.starts_with('/'), "absolute path: {path}");
        assert!(std::path::Path::new(path).exists(), "{path} exists");
    }
    env
}

struct Etcdctl {
    env: Vec<(String, String)>,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Etcdctl {
    /// The same settings with other endpoints (etcdctl refuses a flag that shadows its variable).
    fn at(&self, endpoints: &str) -> Etcdctl {
        let env = self
            .env
            .iter()
            .map(|(k, v)| {
                let v = if k == "ETCDCTL_ENDPOINTS" {
                    endpoints
                } else {
                    v
                };
                (k.clone(), v.to_string())
            })
            .collect();
        Etcdctl { env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("etcdctl");
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.args(args);
        command
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Out {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run etcdctl (Debian package etcd-client)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Out {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with_input(args, "")
    }

    /// Runs and insists on success; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.ok,
            "etcdctl {args:?} failed: {}{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-w", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("etcdctl json")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn revision(response: &Value) -> i64 {
    response["header"]["revision"].as_i64().unwrap()
}

fn b64(text: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn etcdctl_works_against_a_three_node_cluster() {
    let cluster = Cluster::up("127.21.20", 3, &[]);
    let on1 = Etcdctl {
        env: etcd_env(&cluster, 1),
    };
    let on2 = Etcdctl {
        env: etcd_env(&cluster, 2),
    };

    // put / get / prefix / limit / revision / delete, across members.
    let first = on1.json(&["put", "/e/a", "1"]);
    let rev_a = revision(&first);
    on2.ok(&["put", "/e/b", "2"]);
    on1.ok(&["put", "/e/c", "3"]);
    assert_eq!(on2.ok(&["get", "/e/a", "--print-value-only"]).trim(), "1");
    assert_eq!(
        on2.ok(&["get", "/e/", "--prefix", "--keys-only"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["/e/a", "/e/b", "/e/c"]
    );
    let limited = on1.json(&["get", "/e/", "--prefix", "--limit", "2"]);
    assert_eq!(limited["kvs"].as_array().unwrap().len(), 2);
    assert_eq!(limited["more"], true);
    assert_eq!(limited["count"], 3);
    assert_eq!(
        on1.ok(&["get", "/e/", "--prefix", "--rev", &rev_a.to_string()])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["/e/a", "1"]
    );
    assert_eq!(
        on2.ok(&["get", "/e/", "--prefix", "--consistency=s", "--keys-only"])
            .split_whitespace()
            .count(),
        3
    );
    assert_eq!(on2.ok(&["del", "/e/c"]).trim(), "1");
    assert_eq!(on1.ok(&["get", "/e/c"]).trim(), "");

    // A watch in the background from a past revision, with --prev-kv.
    let mut watch = on2.spawn(&[
        "watch",
        "/e/",
        "--prefix",
        "--rev",
        &rev_a.to_string(),
        "--prev-kv",
    ]);

    // txn: compare on value, two puts on success.
    let txn = on1.run_with_input(
        &["txn"],
        "value(\"/e/a\") = \"1\"\n\nput /e/d 4\ndel /e/b\n\nput /e/never x\n\n",
    );
    assert!(txn.ok, "txn: {}", txn.stderr);
    assert_eq!(
        txn.stdout.split_whitespace().collect::<Vec<_>>(),
        ["SUCCESS", "OK", "1"]
    );
    let failed = on1.run_with_input(
        &["txn"],
        "mod(\"/e/a\") > \"999999\"\n\nput /e/never x\n\nput /e/else y\n\n",
    );
    assert!(failed.ok);
    assert!(failed.stdout.starts_with("FAILURE"), "{}", failed.stdout);
    assert_eq!(on1.ok(&["get", "/e/never"]).trim(), "");
    assert_eq!(
        on1.ok(&["get", "/e/else", "--print-value-only"]).trim(),
        "y"
    );

    std::thread::sleep(Duration::from_secs(1));
    let _ = watch.kill();
    let output = watch.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines,
        [
            "PUT", "/e/a", "1", //
            "PUT", "/e/b", "2", //
            "PUT", "/e/c", "3", //
            "DELETE", "/e/c", "3", "/e/c", "", // with its previous value
            "PUT", "/e/d", "4", //
            "DELETE", "/e/b", "2", "/e/b", "", //
            "PUT", "/e/else", "y",
        ],
        "watch output:\n{seen}"
    );

    // Leases: grant, attach, time-to-live with keys, keep-alive once, revoke (keys go).
    let granted = on1.ok(&["lease", "grant", "60"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    on2.ok(&["put", "/e/leased", "v", "--lease", &lease]);
    let ttl = on2.ok(&["lease", "timetolive", &lease, "--keys"]);
    assert!(
        ttl.contains("granted with TTL(60s)") && ttl.contains("/e/leased"),
        "{ttl}"
    );
    let kept = on2.ok(&["lease", "keep-alive", "--once", &lease]);
    assert!(kept.contains("keepalived with TTL(60)"), "{kept}");
    assert!(on1.ok(&["lease", "list"]).contains(&lease));
    on2.ok(&["lease", "revoke", &lease]);
    assert_eq!(on1.ok(&["get", "/e/leased"]).trim(), "");
    let expired = on1.ok(&["lease", "timetolive", &lease]);
    assert!(expired.contains("already expired"), "{expired}");
    let unknown = on1.run(&["lease", "revoke", &lease]);
    assert!(!unknown.ok);
    assert!(
        unknown
            .stderr
            .contains("etcdserver: requested lease not found"),
        "{}",
        unknown.stderr
    );
    let unknown = on1.run(&["put", "/e/x", "v", "--lease", "1234abcd"]);
    assert!(!unknown.ok && unknown.stderr.contains("requested lease not found"));
    assert_eq!(on1.ok(&["get", "/e/x"]).trim(), "");

    // A short lease expires and takes its key with it (driven by the leader).
    let granted = on2.ok(&["lease", "grant", "2"]);
    let short = granted.split_whitespace().nth(1).unwrap().to_string();
    on2.ok(&["put", "/e/short", "v", "--lease", &short]);
    assert!(wait_until(Duration::from_secs(10), || on1
        .ok(&["get", "/e/short"])
        .trim()
        .is_empty()));

    // Bad input: refused with etcd's messages, nothing changed. (Keys, not the global
    // revision: the cluster's own Leases are renewed meanwhile.)
    let keys_before = on1.ok(&["get", "/e/", "--prefix", "--keys-only"]);
    let mut script = String::from("\n");
    for i in 0..129 {
        script.push_str(&format!("put /e/many{i} v\n"));
    }
    script.push_str("\n\n");
    let many = on1.run_with_input(&["txn"], &script);
    assert!(!many.ok);
    assert!(
        many.stderr
            .contains("etcdserver: too many operations in txn request"),
        "{}",
        many.stderr
    );
    let big = "x".repeat(1_600_000);
    let large = on1.run_with_input(&["put", "/e/big"], &big);
    assert!(!large.ok);
    assert!(
        large.stderr.contains("request is too large"),
        "{}",
        large.stderr
    );
    assert_eq!(
        on1.ok(&["get", "/e/", "--prefix", "--keys-only"]),
        keys_before,
        "nothing changed"
    );
    // Just under the limit is accepted and replicated, and writes go on after it.
    let near = "y".repeat(1_400_000);
    let accepted = on1.run_with_input(&["put", "/e/near-limit"], &near);
    assert!(accepted.ok, "{}", accepted.stderr);
    let after = on1.run(&["put", "/e/after-big", "ok"]);
    assert!(after.ok, "{}", after.stderr);

    // Cluster and maintenance.
    let members = on2.json(&["member", "list"]);
    let members = members["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    for member in members {
        let name = member["name"].as_str().unwrap();
        let k: usize = name.strip_prefix("node").unwrap().parse().unwrap();
        assert_eq!(
            member["peerURLs"][0],
            format!("https://{}:19001", cluster.address(k))
        );
        assert_eq!(
            member["clientURLs"][0],
            format!("https://{}:12379", cluster.address(k))
        );
    }
    let table = on1.ok(&["member", "list", "-w", "table"]);
    assert!(
        table.contains("node1") && table.contains("node3"),
        "{table}"
    );
    let endpoints: Vec<String> = (1..=3)
        .map(|k| format!("https://{}:12379", cluster.address(k)))
        .collect();
    let endpoints = endpoints.join(",");
    let all = on1.at(&endpoints);
    let status = all.json(&["endpoint", "status"]);
    let status = status.as_array().unwrap();
    assert_eq!(status.len(), 3);
    let leaders: Vec<u64> = status
        .iter()
        .map(|s| s["Status"]["leader"].as_u64().unwrap())
        .collect();
    assert!(leaders.iter().all(|l| *l == leaders[0] && *l != 0));
    assert_eq!(status[0]["Status"]["version"], "3.5.0");
    let health = all.run(&["endpoint", "health"]);
    assert!(health.ok, "{}{}", health.stdout, health.stderr);
    assert_eq!(
        format!("{}{}", health.stdout, health.stderr)
            .matches("is healthy")
            .count(),
        3
    );
    assert_eq!(on1.ok(&["alarm", "list"]).trim(), "");
    let hashes = all.json(&["endpoint", "hashkv"]);
    let hashes: Vec<u64> = hashes
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["HashKV"]["hash"].as_u64().unwrap_or(0))
        .collect();
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    assert!(on1.ok(&["defrag"]).contains("Finished defragmenting"));
    let snapshot = cluster.dir.path().join("snap.db");
    let saved = on2.run(&["snapshot", "save", snapshot.to_str().unwrap()]);
    assert!(saved.ok, "snapshot save: {}{}", saved.stdout, saved.stderr);
    let size = std::fs::metadata(&snapshot).unwrap().len();
    assert_eq!(size % 512, 32, "etcd's framing: padded body + sha256");

    // Compaction, then a watch from before it is canceled as compacted.
    let now = revision(&on1.json(&["get", "/e/a"]));
    on1.ok(&["compaction", &now.to_string()]);
    let old = on1.run(&["get", "/e/a", "--rev", "2"]);
    assert!(!old.ok && old.stderr.contains("required revision has been compacted"));
    let mut compacted = on1.spawn(&["watch", "/e/", "--prefix", "--rev", "2"]);
    std::thread::sleep(Duration::from_secs(2));
    let _ = compacted.kill();
    let output = compacted.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("compacted"), "{text}");
}

/// Events a `watch -w json` printed: (revision, key, kind) in order.
fn watch_events(output: &str) -> Vec<(i64, String, String)> {
    let mut events = Vec::new();
    for line in output.lines().filter(|l| l.starts_with('{')) {
        let response: Value = serde_json::from_str(line).unwrap();
        for event in response["Events"].as_array().into_iter().flatten() {
            let kind = event["type"].as_str().unwrap_or("PUT").to_string();
            let kv = &event["kv"];
            events.push((
                kv["mod_revision"].as_i64().unwrap(),
                kv["key"].as_str().unwrap().to_string(),
                kind,
            ));
        }
    }
    events
}

#[test]
fn a_watch_loses_and_repeats_nothing_across_a_leader_change() {
    let cluster = Cluster::up("127.21.21", 3, &[]);
    let leader = cluster.leader(1).expect("a leader");
    let follower = (1..=3).find(|k| *k != leader).unwrap();
    let writer_node = (1..=3).find(|k| *k != leader && *k != follower).unwrap();
    let watcher = Etcdctl {
        env: etcd_env(&cluster, follower),
    };
    let writer = Etcdctl {
        env: etcd_env(&cluster, writer_node),
    };
    let start = revision(&writer.json(&["put", "/f/start", "0"]));
    let mut watch = watcher.spawn(&[
        "watch",
        "/f/",
        "--prefix",
        "--rev",
        &start.to_string(),
        "-w",
        "json",
    ]);

    // Writes before, during and after the leader's death; a failed write is retried (its
    // outcome may be unknown: the key's version tells how many times it was applied).
    let mut written = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..40 {
        if i == 15 {
            cluster.signal(leader, "KILL");
        }
        let key = format!("/f/k{i:03}");
        loop {
            assert!(
                Instant::now() < deadline,
                "writes never resumed\n{}",
                cluster.logs()
            );
            if writer.run(&["put", &key, &i.to_string()]).ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        written += 1;
    }
    assert_eq!(written, 40);
    let end = revision(&writer.json(&["get", "/f/start"]));
    assert!(wait_until(Duration::from_secs(10), || {
        let r = watcher.json(&["get", "/f/start", "--consistency=s"]);
        revision(&r) >= end
    }));
    std::thread::sleep(Duration::from_secs(1));
    let _ = watch.kill();
    let output = watch.wait_with_output().unwrap();
    let events = watch_events(&String::from_utf8_lossy(&output.stdout));

    // Strictly increasing revisions: nothing repeated.
    for pair in events.windows(2) {
        assert!(pair[0].0 < pair[1].0, "out of order or repeated: {pair:?}");
    }
    // Every applied write seen: per key, as many PUT events as its version.
    let mut puts: BTreeMap<String, i64> = BTreeMap::new();
    for (_, key, _) in &events {
        *puts.entry(key.clone()).or_default() += 1;
    }
    let all = writer.json(&["get", "/f/", "--prefix"]);
    let kvs = all["kvs"].as_array().unwrap();
    assert_eq!(kvs.len(), 41);
    for kv in kvs {
        let key = kv["key"].as_str().unwrap();
        assert_eq!(
            puts.get(key).copied().unwrap_or(0),
            kv["version"].as_i64().unwrap(),
            "events for {key}"
        );
    }
    assert!(puts.contains_key(&b64("/f/k039")));
}

#[test]
fn without_quorum_writes_are_refused_as_read_only_and_serializable_reads_answer() {
    let cluster = Cluster::up("127.21.22", 3, &[]);
    let on1 = Etcdctl {
        env: etcd_env(&cluster, 1),
    };
    on1.ok(&["put", "/q/a", "1"]);
    assert!(wait_until(Duration::from_secs(10), || {
        on1.at(&format!("https://{}:12379", cluster.address(3)))
            .run(&["get", "/q/a", "--consistency=s"])
            .stdout
            .contains('1')
    }));
    cluster.signal(2, "KILL");
    cluster.signal(3, "KILL");
    let refused = on1.run(&["put", "/q/b", "2", "--command-timeout=30s"]);
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("read-only") && refused.stderr.contains("quorum"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("Unavailable"), "{}", refused.stderr);
    let read = on1.ok(&["get", "/q/", "--prefix", "--consistency=s"]);
    assert_eq!(read.split_whitespace().collect::<Vec<_>>(), ["/q/a", "1"]);
}

/// `etcdctl check perf --load=s` runs for about 60 seconds.
#[test]
fn etcdctl_check_perf_passes_takes_a_minute() {
    let cluster = Cluster::up("127.21.23", 3, &[]);
    let on1 = Etcdctl {
        env: etcd_env(&cluster, 1),
    };
    let out = on1.run(&["check", "perf", "--load=s"]);
    assert!(out.ok, "check perf: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS"), "{}", out.stdout);
}

#[test]
fn the_rust_etcd_client_and_dbctl_bench_work_over_mutual_tls() {
    let cluster = Cluster::up("127.21.24", 3, &[]);
    let env: BTreeMap<String, String> = etcd_env(&cluster, 2).into_iter().collect();
    let read = |name: &str| std::fs::read(&env[name]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use etcd_client::{
            Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity,
            PutOptions, TlsOptions, Txn, TxnOp, WatchOptions,
        };
        let tls = TlsOptions::new()
            .ca_certificate(Certificate::from_pem(read("ETCDCTL_CACERT")))
            .identity(Identity::from_pem(
                read("ETCDCTL_CERT"),
                read("ETCDCTL_KEY"),
            ));
        let mut client = Client::connect(
            [env["ETCDCTL_ENDPOINTS"].as_str()],
            Some(ConnectOptions::new().with_tls(tls)),
        )
        .await
        .unwrap();
        let put = client.put("/r/a", "1", None).await.unwrap();
        let rev = put.header().unwrap().revision();
        let mut stream = client
            .watch(
                "/r/",
                Some(WatchOptions::new().with_prefix().with_start_revision(rev)),
            )
            .await
            .unwrap();
        let lease = client.lease_grant(30, None).await.unwrap();
        client
            .put("/r/b", "2", Some(PutOptions::new().with_lease(lease.id())))
            .await
            .unwrap();
        let txn = Txn::new()
            .when([Compare::value("/r/a", CompareOp::Equal, "1")])
            .and_then([TxnOp::put("/r/c", "3", None), TxnOp::delete("/r/a", None)]);
        let result = client.txn(txn).await.unwrap();
        assert!(result.succeeded());
        let got = client
            .get("/r/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        let keys: Vec<&str> = got.kvs().iter().map(|kv| kv.key_str().unwrap()).collect();
        assert_eq!(keys, ["/r/b", "/r/c"]);
        assert_eq!(got.kvs()[0].lease(), lease.id());
        let mut seen = Vec::new();
        let mut watch_id = None;
        while seen.len() < 4 {
            let response = tokio::time::timeout(Duration::from_secs(10), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if response.created() {
                watch_id = Some(response.watch_id());
            }
            for event in response.events() {
                seen.push(event.kv().unwrap().key_str().unwrap().to_string());
            }
        }
        assert_eq!(seen, ["/r/a", "/r/b", "/r/c", "/r/a"]);
        stream.cancel(watch_id.unwrap()).await.unwrap();
        let ttl = client.lease_time_to_live(lease.id(), None).await.unwrap();
        assert!(ttl.ttl() > 0 && ttl.ttl() <= 30);
        let status = client.status().await.unwrap();
        assert_eq!(status.version(), "3.5.0");
        let members = client.member_list().await.unwrap();
        assert_eq!(members.members().len(), 3);
    });

    let run = cluster.on(
        1,
        &[
            "dbctl",
            "bench",
            "--clients",
            "2",
            "--duration",
            "2",
            "--endpoints",
            &env["ETCDCTL_ENDPOINTS"],
            "--cacert",
            &env["ETCDCTL_CACERT"],
            "--cert",
            &env["ETCDCTL_CERT"],
            "--key",
            &env["ETCDCTL_KEY"],
        ],
    );
    assert!(run.ok(), "bench: {}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.lines().last().unwrap().starts_with("writes/s="),
        "{}",
        run.stdout
    );
}
