//! `hakube api-bench`: an open-loop load against the Kubernetes API (issue 4's benchmark).
//!
//! The client reads a kubeconfig (server, inline CA, client certificate and key; the first
//! cluster and user of the current context) and talks HTTP/2 over TLS (rustls with ring,
//! hyper-rustls) through a small pool of connections, `--connections` of them, each its own
//! hyper client, used round-robin. Modes:
//!
//! - `create`: POST a new small Pod (`bench-<run>-<N>`) per request.
//! - `update`: PUT of the whole Pod with its current `resourceVersion` (what client-go's
//!   get-modify-update does; not a merge PATCH), changing label `seq`, round-robin over
//!   `--objects` Pods (`bench-0` …). The object sent is the one the previous update of that Pod
//!   returned, so an update sent while the previous one to the same Pod is still in flight gets a
//!   409 Conflict, counted as an error.
//! - `get`: GET of one Pod, round-robin over `--objects` Pods.
//! - `list`, `list-large`: LIST of the namespace's Pods, which holds `--objects` Pods (default
//!   100 and 10,000). Missing Pods are created first (closed loop, not timed; `--prepare-only`
//!   stops there, so a script can read memory between creating objects and using them).
//! - `watch`: opens `--watchers` watches on the namespace's Pods (from the resourceVersion of a
//!   LIST, so no initial events), waits until every one answered, then creates Pods at `--rate`
//!   and measures each ADDED event's delivery latency: arrival at the watcher minus the
//!   acknowledgement (response) of the create. An event that arrives before its create's answer
//!   counts as 0 ms (`events_before_ack` says how many); `from_send_*` is arrival minus the
//!   create's scheduled send time.
//!
//! Open loop: request `i` is scheduled at `start + i / rate` (fixed interval; `--poisson` draws
//! exponential gaps instead) and sent then whatever the answers so far, at most
//! `--max-in-flight` at a time. **Latency is measured from the scheduled send time**, not from
//! when the request actually left, so a server that falls behind shows in the percentiles
//! instead of silently slowing the load (no coordinated omission). `achieved_rate` is the
//! successful requests divided by `--seconds`, or by the time from the first scheduled send to
//! the last answer when that is longer; it is below `--rate` when the server cannot keep up.
//!
//! Output: one JSON line per run: mode, rate, achieved rate, count, errors, p50/p90/p99/max in
//! ms (latencies in the log-bucket histogram of `dbctl bench`, < 1/64 relative error), and more
//! (error kinds, client CPU, with `--pids` the servers' CPU per request).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use futures::future::BoxFuture;
use hakube_cluster::peer_client::error_chain;
use http_body_util::{BodyExt, Full};
use hyper::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::commands::bench::{Histogram, parse_stat_cpu};

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ).
const USER_HZ: f64 = 100.0;
/// Largest answer read (a LIST of 10,000 small Pods is about 10 MB).
const MAX_ANSWER_BYTES: usize = 512 * 1024 * 1024;
/// Requests in flight while creating the objects a mode needs (closed loop).
const PREPARE_CONCURRENCY: usize = 16;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
    Get,
    List,
    ListLarge,
    Watch,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::Update => "update",
            Mode::Get => "get",
            Mode::List => "list",
            Mode::ListLarge => "list-large",
            Mode::Watch => "watch",
        }
    }

    /// Pods the mode needs in the namespace before it starts.
    fn default_objects(self) -> usize {
        match self {
            Mode::Create | Mode::Watch => 0,
            Mode::Update | Mode::Get => 1_000,
            Mode::List => 100,
            Mode::ListLarge => 10_000,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ApiBenchArgs {
    /// The kubeconfig (inline certificate-authority-data, client-certificate-data and
    /// client-key-data, as `hakube config` writes).
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: PathBuf,
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Requests per second (open loop; watch mode: creates per second).
    #[arg(long, default_value_t = 100.0, value_name = "N")]
    pub rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20.0, value_name = "S")]
    pub seconds: f64,
    /// Pods in the namespace before the run (update, get: 1000; list: 100; list-large: 10000).
    #[arg(long, value_name = "N")]
    pub objects: Option<usize>,
    /// Watch mode: concurrent watches.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub watchers: usize,
    /// The namespace (created when missing).
    #[arg(long, default_value = "hakube-bench", value_name = "NAME")]
    pub namespace: String,
    /// HTTP/2 connections for the requests (watches have their own).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub connections: usize,
    /// Watch mode: watches per HTTP/2 connection (hakube's server allows 200 streams).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub watches_per_connection: usize,
    /// Exponential gaps between sends (Poisson arrivals) instead of a fixed interval.
    #[arg(long)]
    pub poisson: bool,
    /// Seconds before a request counts as failed.
    #[arg(long, default_value_t = 60.0, value_name = "S")]
    pub timeout: f64,
    /// Requests in flight at most; beyond it sends wait (their latency still counts from the
    /// scheduled time).
    #[arg(long, default_value_t = 5_000, value_name = "N")]
    pub max_in_flight: usize,
    /// Server PIDs whose CPU (utime + stime) over the run is reported.
    #[arg(long, value_delimiter = ',', value_name = "PID,PID…")]
    pub pids: Vec<i32>,
    /// Only create the Pods the mode needs, print a JSON line and stop.
    #[arg(long)]
    pub prepare_only: bool,
    /// API servers to spread the connections over (default: the kubeconfig's server).
    #[arg(long, value_delimiter = ',', value_name = "URL,URL…")]
    pub server: Vec<String>,
    /// Client threads.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: usize,
    /// Write one line per answered request, `scheduled_offset_ms latency_ms`, to this file
    /// (to see when the slow requests happen: periodic stalls, a leader change).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

/// `hakube api-bench`: runs on its own multi-threaded runtime (the load generator must not be
/// the bottleneck of 1,000 watch streams).
pub fn run(args: &ApiBenchArgs) -> Result<()> {
    validate(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = runtime.block_on(drive(args))?;
    println!(
        "{}",
        serde_json::to_string(&report).context("encoding the report")?
    );
    if let Some(error) = &report.first_error {
        eprintln!("api-bench: {} errors; first: {error}", report.errors);
    }
    Ok(())
}

fn validate(args: &ApiBenchArgs) -> Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of requests per second");
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number");
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    if args.connections == 0 || args.threads == 0 || args.max_in_flight == 0 {
        bail!("--connections, --threads and --max-in-flight must be at least 1");
    }
    if args.mode == Mode::Watch && (args.watchers == 0 || args.watches_per_connection == 0) {
        bail!("--watchers and --watches-per-connection must be at least 1");
    }
    Ok(())
}

mod kubeconfig;
use kubeconfig::{parse_kubeconfig, tls_config};

mod client;
use client::*;

// ------------------------------------------------------------------------------ open loop

/// Send times: fixed interval, or exponential gaps (seeded, so runs are repeatable).
struct Schedule {
    rate: f64,
    poisson: bool,
    state: u64,
    at: f64,
}

impl Schedule {
    fn new(rate: f64, poisson: bool) -> Self {
        Self {
            rate,
            poisson,
            state: 0x0005_EED0_FA91,
            at: 0.0,
        }
    }

    /// Seconds from the start at which request `i` (called with 0, 1, 2, … in order) is due.
    fn offset(&mut self, i: u64) -> f64 {
        if !self.poisson {
            return i as f64 / self.rate;
        }
        if i > 0 {
            self.at += -(1.0 - self.uniform()).ln() / self.rate;
        }
        self.at
    }

    /// Uniform in [0, 1) (splitmix64).
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

/// What the requests of a run did.
#[derive(Default)]
struct Tally {
    histogram: Histogram,
    ok: u64,
    errors: u64,
    kinds: BTreeMap<String, u64>,
    /// The first message of each kind of error.
    examples: BTreeMap<String, String>,
    first_error: Option<String>,
    last_done: Option<Instant>,
    /// `(scheduled, latency)` of each answered request, kept only with `--timeline`.
    timeline: Option<Vec<(Instant, Duration)>>,
}

impl Tally {
    fn record(&mut self, scheduled: Instant, done: Instant, outcome: Result<(), RequestError>) {
        self.last_done = Some(self.last_done.map_or(done, |last| last.max(done)));
        match outcome {
            Ok(()) => {
                self.ok += 1;
                let latency = done.saturating_duration_since(scheduled);
                self.histogram.record(latency);
                if let Some(timeline) = &mut self.timeline {
                    timeline.push((scheduled, latency));
                }
            }
            Err(error) => {
                self.errors += 1;
                let detail = error.detail.replace('\n', " ");
                if self.first_error.is_none() {
                    self.first_error = Some(detail.clone());
                }
                self.examples.entry(error.kind.clone()).or_insert(detail);
                *self.kinds.entry(error.kind).or_default() += 1;
            }
        }
    }
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(shared: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One request: given its index and scheduled time, the future that performs it.
type MakeRequest = Box<dyn FnMut(u64, Instant) -> BoxFuture<'static, Result<(), RequestError>>>;

/// Sends `total` requests on the schedule and waits for every answer. Returns the tally and the
/// time the first request was due.
async fn open_loop(
    args: &ApiBenchArgs,
    total: u64,
    mut make: MakeRequest,
) -> (Tally, Instant, Instant) {
    let tally: Shared<Tally> = Arc::new(Mutex::new(Tally {
        timeline: args.timeline.as_ref().map(|_| Vec::new()),
        ..Tally::default()
    }));
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut schedule = Schedule::new(args.rate, args.poisson);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(schedule.offset(i));
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let request = make(i, scheduled);
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = match tokio::time::timeout(timeout, request).await {
                Ok(outcome) => outcome,
                Err(_) => Err(RequestError::new(
                    "timeout",
                    format!("no answer within {} s", timeout.as_secs_f64()),
                )),
            };
            let done = Instant::now();
            lock(&tally).record(scheduled, done, outcome);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let dispatched = Instant::now();
    while tasks.join_next().await.is_some() {}
    let tally = std::mem::take(&mut *lock(&tally));
    (tally, start, dispatched)
}

// ------------------------------------------------------------------------------ report

#[derive(Serialize, Debug, Default)]
struct Report {
    mode: &'static str,
    rate: f64,
    achieved_rate: f64,
    count: u64,
    errors: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    p999_ms: f64,
    seconds: f64,
    arrivals: &'static str,
    /// Requests due in the run (rate × seconds).
    scheduled: u64,
    /// From the first scheduled send to the last answer.
    elapsed_s: f64,
    /// How long sending the scheduled requests took (longer than `seconds` when
    /// `--max-in-flight` held sends back).
    dispatch_s: f64,
    connections: usize,
    servers: Vec<String>,
    namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prepared: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prepare_s: Option<f64>,
    /// LIST modes: items and bytes of one LIST before the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    list_items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    list_bytes: Option<usize>,
    error_kinds: BTreeMap<String, u64>,
    /// The first message of each kind of error.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    error_examples: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
    client_cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_ms_per_request: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    watch: Option<WatchReport>,
}

/// utime + stime in ms over `pids` (`None` when one is unreadable).
fn cpu_ms(pids: &[i32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let mut ticks = 0;
    for pid in pids {
        ticks += parse_stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    }
    Some(ticks as f64 * 1000.0 / USER_HZ)
}

fn self_cpu_ms() -> Option<f64> {
    let ticks = parse_stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(ticks as f64 * 1000.0 / USER_HZ)
}

fn difference(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

/// A run's identifier, for names of the Pods it creates (`bench-<run>-<N>`).
fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{:x}", millis & 0xff_ffff_ffff)
}

// ------------------------------------------------------------------------------ the run

async fn drive(args: &ApiBenchArgs) -> Result<Report> {
    let text = std::fs::read_to_string(&args.kubeconfig)
        .with_context(|| format!("cannot read {}", args.kubeconfig.display()))?;
    let credentials =
        parse_kubeconfig(&text).with_context(|| format!("in {}", args.kubeconfig.display()))?;
    let tls = tls_config(&credentials)?;
    let servers = if args.server.is_empty() {
        vec![credentials.server.clone()]
    } else {
        args.server
            .iter()
            .map(|s| s.trim_end_matches('/').to_string())
            .collect()
    };
    let api = Arc::new(Api::new(&tls, &servers, args.connections));
    let namespace = args.namespace.clone();
    ensure_namespace(&api, &namespace).await?;
    // Open every connection before the clock starts.
    for index in 0..api.connections() {
        api.call(
            index,
            Method::GET,
            &format!("/api/v1/namespaces/{namespace}"),
            None,
            Bytes::new(),
        )
        .await
        .map_err(|e| anyhow!("{}: {}", servers[index % servers.len()], e.detail))?;
    }

    let objects = args.objects.unwrap_or(args.mode.default_objects());
    let mut report = Report {
        mode: args.mode.name(),
        rate: args.rate,
        seconds: args.seconds,
        arrivals: if args.poisson { "poisson" } else { "fixed" },
        connections: args.connections,
        servers: servers.clone(),
        namespace: namespace.clone(),
        ..Report::default()
    };
    if objects > 0 {
        let (created, took) = prepare(&api, &namespace, objects).await?;
        report.objects = Some(objects);
        report.prepared = Some(created);
        report.prepare_s = Some(took);
    }
    if args.prepare_only {
        report.rate = 0.0;
        report.seconds = 0.0;
        return Ok(report);
    }
    let total = (args.rate * args.seconds).round().max(1.0) as u64;
    report.scheduled = total;
    let path = pods_path(&namespace);
    let make: MakeRequest = match args.mode {
        Mode::Create => {
            let run = run_id();
            let api = api.clone();
            Box::new(move |i, _| {
                let api = api.clone();
                let path = path.clone();
                let body = pod_body(&format!("bench-{run}-{i}"));
                Box::pin(async move {
                    let index = api.pick();
                    api.call(index, Method::POST, &path, Some("application/json"), body)
                        .await
                        .map(drop)
                })
            })
        }
        Mode::Get => {
            let api = api.clone();
            Box::new(move |i, _| {
                let api = api.clone();
                let path = format!("{path}/bench-{}", i % objects as u64);
                Box::pin(async move {
                    let index = api.pick();
                    api.call(index, Method::GET, &path, None, Bytes::new())
                        .await
                        .map(drop)
                })
            })
        }
        Mode::List | Mode::ListLarge => {
            let bytes = api
                .call(0, Method::GET, &path, None, Bytes::new())
                .await
                .map_err(|e| anyhow!("cannot list: {}", e.detail))?;
            let list: Value = serde_json::from_slice(&bytes).context("the list is not JSON")?;
            report.list_items = list.get("items").and_then(Value::as_array).map(Vec::len);
            report.list_bytes = Some(bytes.len());
            let api = api.clone();
            Box::new(move |_, _| {
                let api = api.clone();
                let path = path.clone();
                Box::pin(async move {
                    let index = api.pick();
                    api.call(index, Method::GET, &path, None, Bytes::new())
                        .await
                        .map(drop)
                })
            })
        }
        Mode::Update => {
            // The latest copy of each Pod, updated from every successful answer.
            let (_, items) = list_pods(&api, &namespace).await?;
            let mut slots: Vec<Option<Value>> = vec![None; objects];
            for item in items {
                let index = object_name(&item)
                    .and_then(|name| name.strip_prefix("bench-"))
                    .and_then(|n| n.parse::<usize>().ok());
                if let Some(index) = index.filter(|i| *i < objects) {
                    slots[index] = Some(item);
                }
            }
            if let Some(missing) = slots.iter().position(Option::is_none) {
                bail!("bench-{missing} is missing from {namespace}");
            }
            let slots: Arc<Vec<Mutex<Value>>> = Arc::new(
                slots
                    .into_iter()
                    .map(|slot| Mutex::new(slot.unwrap_or(Value::Null)))
                    .collect(),
            );
            let api = api.clone();
            Box::new(move |i, _| {
                let api = api.clone();
                let slots = slots.clone();
                let slot = (i % objects as u64) as usize;
                let path = format!("{path}/bench-{slot}");
                let mut object = lock(&slots[slot]).clone();
                if let Some(labels) = object
                    .pointer_mut("/metadata/labels")
                    .and_then(Value::as_object_mut)
                {
                    labels.insert("seq".into(), Value::String(i.to_string()));
                }
                let body = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
                Box::pin(async move {
                    let index = api.pick();
                    let answer = api
                        .call(index, Method::PUT, &path, Some("application/json"), body)
                        .await?;
                    let updated: Value = serde_json::from_slice(&answer)
                        .map_err(|e| RequestError::new("decode", e.to_string()))?;
                    *lock(&slots[slot]) = updated;
                    Ok(())
                })
            })
        }
        Mode::Watch => return watch_run(args, &api, &tls, &servers, report, total).await,
    };

    let server_before = cpu_ms(&args.pids);
    let client_before = self_cpu_ms();
    let (tally, start, dispatched) = open_loop(args, total, make).await;
    if let Some(path) = &args.timeline {
        write_timeline(path, &tally, start)?;
    }
    let server_cpu = difference(server_before, cpu_ms(&args.pids));
    report.client_cpu_ms = difference(client_before, self_cpu_ms());
    report.server_cpu_ms = server_cpu;
    report.server_cpu_ms_per_request = server_cpu
        .filter(|_| tally.ok > 0)
        .map(|cpu| cpu / tally.ok as f64);
    fill(&mut report, &tally, start, dispatched);
    Ok(report)
}

/// `--timeline`: the answered requests in the order they were scheduled.
fn write_timeline(path: &std::path::Path, tally: &Tally, start: Instant) -> Result<()> {
    let mut entries = tally.timeline.clone().unwrap_or_default();
    entries.sort_by_key(|(scheduled, _)| *scheduled);
    let mut text = String::from("# scheduled_offset_ms latency_ms\n");
    for (scheduled, latency) in entries {
        let offset = scheduled.saturating_duration_since(start).as_secs_f64() * 1e3;
        text.push_str(&format!("{offset:.1} {:.2}\n", latency.as_secs_f64() * 1e3));
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The run's length for `achieved_rate`: the scheduled window, or longer when the answers (or
/// the sends) ran past it.
fn run_length(seconds: f64, tally: &Tally, start: Instant, dispatched: Instant) -> f64 {
    let end = tally.last_done.unwrap_or(start).max(dispatched);
    end.saturating_duration_since(start)
        .as_secs_f64()
        .max(seconds)
}

fn fill(report: &mut Report, tally: &Tally, start: Instant, dispatched: Instant) {
    let elapsed = run_length(report.seconds, tally, start, dispatched);
    report.count = tally.ok;
    report.errors = tally.errors;
    report.elapsed_s = elapsed;
    report.dispatch_s = dispatched.saturating_duration_since(start).as_secs_f64();
    report.achieved_rate = if elapsed > 0.0 {
        tally.ok as f64 / elapsed
    } else {
        0.0
    };
    let h = &tally.histogram;
    report.p50_ms = h.percentile_ms(0.50);
    report.p90_ms = h.percentile_ms(0.90);
    report.p99_ms = h.percentile_ms(0.99);
    report.p999_ms = h.percentile_ms(0.999);
    report.max_ms = h.max_ms();
    report.mean_ms = h.mean_ms();
    report.error_kinds = tally.kinds.clone();
    report.error_examples = tally.examples.clone();
    report.first_error = tally.first_error.clone();
}

mod watch;
use watch::{WatchReport, watch_run};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_fixed_or_exponential_with_the_right_mean() {
        let mut fixed = Schedule::new(100.0, false);
        assert_eq!(fixed.offset(0), 0.0);
        assert!((fixed.offset(150) - 1.5).abs() < 1e-12);
        let mut poisson = Schedule::new(1000.0, true);
        let mut last = 0.0;
        for i in 0..20_000 {
            let at = poisson.offset(i);
            assert!(at >= last);
            last = at;
        }
        // 20,000 gaps of mean 1 ms: about 20 s.
        assert!((last - 20.0).abs() < 0.6, "{last}");
    }

    #[test]
    fn a_tally_counts_successes_and_groups_errors() {
        let mut tally = Tally::default();
        let t = Instant::now();
        tally.record(t, t + Duration::from_millis(5), Ok(()));
        tally.record(
            t,
            t + Duration::from_millis(7),
            Err(RequestError::new("http 409", "409 Conflict: modified")),
        );
        tally.record(
            t,
            t + Duration::from_millis(9),
            Err(RequestError::new("http 409", "x")),
        );
        assert_eq!(tally.ok, 1);
        assert_eq!(tally.errors, 2);
        assert_eq!(tally.kinds.get("http 409"), Some(&2));
        assert_eq!(tally.first_error.as_deref(), Some("409 Conflict: modified"));
        assert_eq!(tally.last_done, Some(t + Duration::from_millis(9)));
        assert!((tally.histogram.percentile_ms(0.5) - 5.0).abs() < 0.1);
    }

    #[test]
    fn the_pod_body_is_the_issues_pod() {
        let pod: Value =
            serde_json::from_slice(&pod_body("bench-3")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pod["metadata"]["name"], "bench-3");
        assert_eq!(pod["metadata"]["labels"]["app"], "bench");
        assert_eq!(pod["spec"]["containers"][0]["image"], "busybox");
        assert_eq!(
            pod["spec"]["schedulingGates"][0]["name"],
            "hakube.io/api-bench"
        );
    }
}
