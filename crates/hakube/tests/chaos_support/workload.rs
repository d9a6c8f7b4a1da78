//! The chaos test's clients: etcd endpoints over mutual TLS, and workers doing reads, puts and
//! compare-and-swaps while recording each operation's invocation and completion.

#![allow(dead_code)]

use super::*;

/// Node K's etcd endpoint and client credentials, from `hakube config --etcd`.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) ca: Vec<u8>,
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

pub(crate) fn endpoint(cluster: &Cluster, k: usize) -> Endpoint {
    let run = cluster.on(k, &["config", "--etcd"]);
    assert!(run.ok(), "config --etcd: {}", run.stderr);
    let env: HashMap<String, String> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let read = |name: &str| std::fs::read(&env[name]).unwrap();
    Endpoint {
        url: env["ETCDCTL_ENDPOINTS"].clone(),
        ca: read("ETCDCTL_CACERT"),
        cert: read("ETCDCTL_CERT"),
        key: read("ETCDCTL_KEY"),
    }
}

/// One connection attempt, bounded.
pub(crate) async fn try_connect(endpoint: &Endpoint) -> Option<Client> {
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(endpoint.ca.clone()))
        .identity(Identity::from_pem(
            endpoint.cert.clone(),
            endpoint.key.clone(),
        ));
    let options = ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(Duration::from_secs(2))
        .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2));
    match tokio::time::timeout(
        Duration::from_secs(3),
        Client::connect([endpoint.url.as_str()], Some(options)),
    )
    .await
    {
        Ok(Ok(client)) => Some(client),
        _ => None,
    }
}

/// Elapsed time since the start of the run (for display; order comes from the history's
/// sequence numbers).
#[derive(Clone)]
pub(crate) struct Clock(pub(crate) Instant);

impl Clock {
    pub(crate) fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// An error as an outcome: refusals that the server guarantees changed nothing (quorum lost,
/// "read-only") and requests that never left the client (the TCP connection was refused) are
/// definite; everything else (timeouts, resets, "request timed out", "no leader", ...) may or
/// may not have been applied.
pub(crate) fn classify(error: &str) -> Outcome {
    if error.contains("tcp connect error") {
        return Outcome::NotApplied(format!("not sent: {error}"));
    }
    if error.contains("read-only") && error.contains("quorum") && !error.contains("linearizable") {
        Outcome::NotApplied(format!("quorum lost: {error}"))
    } else {
        Outcome::Unknown(error.to_string())
    }
}

pub(crate) fn short(error: impl std::fmt::Display) -> String {
    let text = error.to_string();
    text.chars().take(200).collect()
}

pub(crate) struct Worker {
    pub(crate) id: u64,
    pub(crate) node: usize,
    pub(crate) client: Option<Client>,
    pub(crate) history: History,
    pub(crate) clock: Clock,
    pub(crate) values: Arc<AtomicU64>,
    pub(crate) failures_in_a_row: u32,
}

impl Worker {
    pub(crate) async fn client(&mut self, endpoint: &Endpoint) -> Option<&mut Client> {
        if self.client.is_none() || self.failures_in_a_row >= 3 {
            self.failures_in_a_row = 0;
            self.client = try_connect(endpoint).await;
        }
        self.client.as_mut()
    }

    pub(crate) fn done(&mut self, op: usize, outcome: Outcome) {
        if matches!(outcome, Outcome::Unknown(_) | Outcome::NotApplied(_)) {
            self.failures_in_a_row += 1;
        } else {
            self.failures_in_a_row = 0;
        }
        self.history.complete_at(op, outcome, self.clock.now());
    }

    pub(crate) fn invoke(&self, key: u64, kind: OpKind) -> usize {
        self.history
            .invoke_at(self.id, self.node as u64, key, kind, self.clock.now())
    }

    /// A linearizable get; returns the value and mod revision it read.
    pub(crate) async fn get(
        &mut self,
        endpoint: &Endpoint,
        key: u64,
    ) -> Option<(Option<u64>, i64)> {
        let op = self.invoke(key, OpKind::Get);
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::Unknown("cannot connect".into()));
            return None;
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, client.get(key_name(key), None)).await;
        match result {
            Ok(Ok(response)) => {
                let kv = response.kvs().first();
                let value = kv.and_then(|kv| decode_value(kv.value()));
                let mod_revision = kv.map_or(0, |kv| kv.mod_revision());
                self.done(
                    op,
                    Outcome::Read {
                        value,
                        mod_revision: kv.map(|kv| kv.mod_revision() as u64),
                    },
                );
                Some((value, mod_revision))
            }
            Ok(Err(e)) => {
                self.done(op, Outcome::Unknown(short(e)));
                None
            }
            Err(_) => {
                self.done(op, Outcome::Unknown("client timeout".into()));
                None
            }
        }
    }

    pub(crate) async fn put(&mut self, endpoint: &Endpoint, key: u64) {
        let value = self.values.fetch_add(1, Ordering::SeqCst) + 1;
        let op = self.invoke(key, OpKind::Put { value });
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::NotApplied("cannot connect".into()));
            return;
        };
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            client.put(
                key_name(key),
                encode_value(value),
                Some(PutOptions::new().with_prev_key()),
            ),
        )
        .await;
        let outcome = match result {
            Ok(Ok(response)) => Outcome::Written {
                previous: response.prev_key().and_then(|kv| decode_value(kv.value())),
                revision: response.header().map_or(0, |h| h.revision() as u64),
            },
            Ok(Err(e)) => classify(&short(e)),
            Err(_) => Outcome::Unknown("client timeout".into()),
        };
        self.done(op, outcome);
    }

    /// Compare-and-swap on the mod revision read (or create if absent): a txn whose failure
    /// branch reads the key, so a failed compare tells what it saw.
    pub(crate) async fn cas(&mut self, endpoint: &Endpoint, key: u64, seen: (Option<u64>, i64)) {
        let value = self.values.fetch_add(1, Ordering::SeqCst) + 1;
        let (kind, compare) = match seen {
            (Some(expected), mod_revision) => (
                OpKind::Cas { expected, value },
                Compare::mod_revision(key_name(key), CompareOp::Equal, mod_revision),
            ),
            (None, _) => (
                OpKind::Create { value },
                Compare::version(key_name(key), CompareOp::Equal, 0),
            ),
        };
        let op = self.invoke(key, kind);
        let Some(client) = self.client(endpoint).await else {
            self.done(op, Outcome::NotApplied("cannot connect".into()));
            return;
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::put(
                key_name(key),
                encode_value(value),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key_name(key), None)]);
        let result = tokio::time::timeout(REQUEST_TIMEOUT, client.txn(txn)).await;
        let outcome = match result {
            Ok(Ok(response)) => {
                let revision = response.header().map_or(0, |h| h.revision() as u64);
                match (response.succeeded(), response.op_responses().first()) {
                    (true, Some(TxnOpResponse::Put(put))) => Outcome::Written {
                        previous: put.prev_key().and_then(|kv| decode_value(kv.value())),
                        revision,
                    },
                    (false, Some(TxnOpResponse::Get(get))) => Outcome::ConditionFailed {
                        current: get.kvs().first().and_then(|kv| decode_value(kv.value())),
                    },
                    (succeeded, other) => {
                        panic!("unexpected txn response: succeeded={succeeded} {other:?}")
                    }
                }
            }
            Ok(Err(e)) => classify(&short(e)),
            Err(_) => Outcome::Unknown("client timeout".into()),
        };
        self.done(op, outcome);
    }
}

pub(crate) async fn client_loop(
    mut worker: Worker,
    endpoint: Endpoint,
    keys: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = SimRng::derive(seed, 1000 + worker.id);
    while !stop.load(Ordering::SeqCst) {
        let key = rng.below(keys);
        let roll = rng.below(100);
        if roll < 30 {
            worker.get(&endpoint, key).await;
        } else if roll < 60 {
            worker.put(&endpoint, key).await;
        } else if let Some(seen) = worker.get(&endpoint, key).await {
            worker.cas(&endpoint, key, seen).await;
        }
        if worker.failures_in_a_row > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
        }
    }
}
