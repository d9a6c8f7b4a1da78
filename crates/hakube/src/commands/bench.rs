//! `hakube dbctl bench`: a closed-loop write load against the datastore.
//!
//! N clients each open one keep-alive connection to the target and put `/bench/<key>` (a pseudo-
//! random key out of `--key-space`) with a `--value-size`-byte value, back to back, for
//! `--warmup` + `--duration` seconds. Only writes that complete inside the measured window count;
//! their latencies go into a log-bucket histogram (bounded memory, < 1 % relative error). The CPU
//! cost is the sum of utime + stime over the daemon processes (`/proc/PID/stat`) across the same
//! window: the local daemon's PID from `DATA_DIR/hakube.pid` by default, `--pids` to name others
//! (e.g. every node of a cluster).
//!
//! Output: exactly one last line `writes/s=… p50_ms=… p99_ms=… cpu_ms_per_1k_writes=…`, or with
//! `--json` one JSON object with those figures, the error count and a few more. The hidden
//! `--report-gaps` adds the longest time between two successful writes (the failover benchmark).
//!
//! Targets are behind [`WriteTarget`]: the admin socket ([`AdminSocketTarget`]), or with
//! `--endpoints` the etcd v3 API (`bench_etcd::EtcdTarget`), another implementation of the same
//! two traits.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clap::Args;
use hakube_cluster::admin_api::{ErrorBody, KvPutRequest};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::UnixStream;

use crate::admin_client::AdminClient;
use crate::process;

/// Clock ticks per second of `/proc/PID/stat` times: USER_HZ, fixed at 100 in Linux's user ABI.
const USER_HZ: u64 = 100;
/// Pause after a failed request before the client tries again (keeps a dead target from spinning).
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Concurrent clients, each with its own connection, each with one write in flight.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub clients: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub duration: f64,
    /// Bytes per value.
    #[arg(long, default_value_t = 256, value_name = "BYTES")]
    pub value_size: usize,
    /// Distinct keys written (`/bench/00000000` … ).
    #[arg(long, default_value_t = 100_000, value_name = "K")]
    pub key_space: u64,
    /// Seconds of load before the measured window (not counted).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub warmup: f64,
    /// Print one JSON object instead of the `writes/s=…` line.
    #[arg(long)]
    pub json: bool,
    /// Daemon PIDs whose CPU time is summed (default: this data directory's daemon).
    #[arg(long, value_delimiter = ',', value_name = "PID,PID…")]
    pub pids: Vec<i32>,
    /// Also report the longest time between two successful writes (failover measurements).
    #[arg(long, hide = true)]
    pub report_gaps: bool,
    /// One connection per request through the stock admin client (to compare with keep-alive).
    #[arg(long, hide = true)]
    pub connection_per_request: bool,
    /// The etcd v3 target (`--endpoints URLS --cacert F --cert F --key F`).
    #[command(flatten)]
    pub etcd: crate::commands::bench_etcd::EtcdTargetArgs,
}

/// Somewhere writes can be sent: opens one session per client.
pub trait WriteTarget {
    type Session: WriteSession;
    /// A new session (a connection, lazily opened or not).
    async fn session(&self) -> Result<Self::Session>;
    /// What the report calls this target.
    fn describe(&self) -> String;
}

/// One client's connection to a target; `put` returns once the write is committed.
pub trait WriteSession {
    async fn put(&mut self, key: &str, value: &str) -> Result<()>;
}

/// The local daemon's admin socket (`POST /kv/put`), HTTP/1.1 keep-alive: one connection per
/// session, reopened after an error.
pub struct AdminSocketTarget {
    client: AdminClient,
    connection_per_request: bool,
}

impl AdminSocketTarget {
    pub fn new(data_dir: &Path, connection_per_request: bool) -> Self {
        Self {
            client: AdminClient::new(data_dir),
            connection_per_request,
        }
    }
}

impl WriteTarget for AdminSocketTarget {
    type Session = AdminSocketSession;

    async fn session(&self) -> Result<AdminSocketSession> {
        Ok(AdminSocketSession {
            client: self.client.clone(),
            socket: self.client.socket_path(),
            sender: None,
            connection_per_request: self.connection_per_request,
        })
    }

    fn describe(&self) -> String {
        format!("admin socket {}", self.client.socket_path().display())
    }
}

pub struct AdminSocketSession {
    client: AdminClient,
    socket: PathBuf,
    sender: Option<SendRequest<Full<Bytes>>>,
    connection_per_request: bool,
}

impl AdminSocketSession {
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .with_context(|| format!("cannot connect to {}", self.socket.display()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("talking to the daemon's admin socket")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn put_keep_alive(&mut self, body: Vec<u8>) -> Result<()> {
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .context("the admin connection closed")?;
        let request = Request::builder()
            .method(Method::POST)
            .uri("/kv/put")
            .header(HOST, "localhost")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .context("building the request")?;
        let response = sender
            .send_request(request)
            .await
            .context("the daemon did not answer")?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .context("reading the daemon's answer")?
            .to_bytes();
        // The connection is good whatever the status: keep it.
        self.sender = Some(sender);
        if status.is_success() {
            return Ok(());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(anyhow!(body.error)),
            Err(_) => Err(anyhow!("the daemon answered {status}")),
        }
    }
}

impl WriteSession for AdminSocketSession {
    async fn put(&mut self, key: &str, value: &str) -> Result<()> {
        let request = KvPutRequest {
            key: key.to_string(),
            value: value.to_string(),
        };
        if self.connection_per_request {
            let _: serde_json::Value = self.client.post("/kv/put", &request).await?;
            return Ok(());
        }
        let body = serde_json::to_vec(&request).context("encoding the request")?;
        self.put_keep_alive(body).await
    }
}

/// `hakube dbctl bench` against the local daemon.
pub async fn run(data_dir: &Path, args: &BenchArgs, request_timeout: Duration) -> Result<()> {
    validate(args)?;
    let pids = if args.pids.is_empty() {
        process::read_pid(data_dir).into_iter().collect()
    } else {
        args.pids.clone()
    };
    if !args.etcd.endpoints.is_empty() {
        let target = crate::commands::bench_etcd::EtcdTarget::new(&args.etcd)?;
        return run_against(&target, args, &pids, request_timeout).await;
    }
    let target = AdminSocketTarget::new(data_dir, args.connection_per_request);
    run_against(&target, args, &pids, request_timeout).await
}

/// Runs the load against `target` and prints the report.
async fn run_against<T: WriteTarget>(
    target: &T,
    args: &BenchArgs,
    pids: &[i32],
    request_timeout: Duration,
) -> Result<()> {
    let report = drive(target, args, pids, request_timeout).await?;
    if let Some(error) = &report.first_error {
        eprintln!(
            "bench: {} failed writes against {}; first: {error}",
            report.errors,
            target.describe()
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("encoding the report")?
        );
    } else {
        if let Some(gap) = report.max_gap_ms {
            println!(
                "max_gap_ms={gap:.1} at_s={:.3}",
                report.max_gap_at_s.unwrap_or(0.0)
            );
        }
        println!("{}", summary_line(&report));
    }
    if report.writes == 0 {
        bail!(
            "no write succeeded in the measured window{}",
            report
                .first_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn validate(args: &BenchArgs) -> Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        bail!("--warmup must be zero or a positive number of seconds");
    }
    if args.key_space == 0 {
        bail!("--key-space must be at least 1");
    }
    Ok(())
}

/// What a run measured.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Report {
    #[serde(rename = "writes/s")]
    pub writes_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Daemon CPU (utime + stime, all `pids`) per 1,000 counted writes; `None` when unknown.
    pub cpu_ms_per_1k_writes: Option<f64>,
    pub errors: u64,
    pub writes: u64,
    pub p90_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub daemon_cpu_ms: Option<f64>,
    /// This process's own CPU over the window (the load generator's cost).
    pub client_cpu_ms: Option<f64>,
    pub clients: usize,
    pub duration_s: f64,
    pub value_size: usize,
    pub pids: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gap_ms: Option<f64>,
    /// When the longest gap ended, in seconds from the start of the run (warm-up included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gap_at_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The one line every run ends with.
pub fn summary_line(report: &Report) -> String {
    let cpu = match report.cpu_ms_per_1k_writes {
        Some(cpu) => format!("{cpu:.1}"),
        None => "n/a".to_string(),
    };
    format!(
        "writes/s={:.1} p50_ms={:.3} p99_ms={:.3} cpu_ms_per_1k_writes={cpu}",
        report.writes_per_s, report.p50_ms, report.p99_ms
    )
}

/// State shared by the clients of one run (all on one thread).
struct Shared {
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    last_success: Cell<Option<Instant>>,
    max_gap: Cell<(Duration, Instant)>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
}

impl Shared {
    fn success(&self, at: Instant) {
        if let Some(last) = self.last_success.get() {
            let gap = at.saturating_duration_since(last);
            if gap > self.max_gap.get().0 {
                self.max_gap.set((gap, at));
            }
        }
        self.last_success.set(Some(at));
    }

    fn failure(&self, at: Instant, error: &anyhow::Error) {
        if at >= self.window_start && at <= self.window_end {
            self.errors.set(self.errors.get() + 1);
        }
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(format!("{error:#}").replace('\n', " "));
        }
    }
}

/// Runs the load and measures it.
pub async fn drive<T: WriteTarget>(
    target: &T,
    args: &BenchArgs,
    pids: &[i32],
    request_timeout: Duration,
) -> Result<Report> {
    let mut sessions = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        sessions.push(target.session().await?);
    }
    let value = bench_value(args.value_size);
    let start = Instant::now();
    let window_start = start + Duration::from_secs_f64(args.warmup);
    let window_end = window_start + Duration::from_secs_f64(args.duration);
    let shared = Shared {
        start,
        window_start,
        window_end,
        last_success: Cell::new(None),
        max_gap: Cell::new((Duration::ZERO, start)),
        errors: Cell::new(0),
        first_error: RefCell::new(None),
    };

    let clients = sessions.into_iter().enumerate().map(|(index, session)| {
        client_loop(
            session,
            index as u64,
            args.key_space,
            &value,
            &shared,
            request_timeout,
        )
    });
    let cpu = async {
        tokio::time::sleep_until(window_start.into()).await;
        let before = (cpu_ticks(pids), self_cpu_ticks());
        tokio::time::sleep_until(window_end.into()).await;
        let after = (cpu_ticks(pids), self_cpu_ticks());
        (before, after)
    };
    let (histograms, ((daemon_before, self_before), (daemon_after, self_after))) =
        futures::future::join(futures::future::join_all(clients), cpu).await;

    let mut histogram = Histogram::new();
    for h in &histograms {
        histogram.merge(h);
    }
    // A writer that stopped succeeding before the end: the open gap counts too.
    if let Some(last) = shared.last_success.get() {
        let open = window_end.saturating_duration_since(last);
        if open > shared.max_gap.get().0 {
            shared.max_gap.set((open, window_end));
        }
    }
    let writes = histogram.count();
    let daemon_cpu_ms = match (daemon_before, daemon_after) {
        (Some(before), Some(after)) => Some(ticks_to_ms(after.saturating_sub(before))),
        _ => None,
    };
    let client_cpu_ms = match (self_before, self_after) {
        (Some(before), Some(after)) => Some(ticks_to_ms(after.saturating_sub(before))),
        _ => None,
    };
    let (gap, gap_end) = shared.max_gap.get();
    let seen_success = shared.last_success.get().is_some();
    Ok(Report {
        writes_per_s: writes as f64 / args.duration,
        p50_ms: histogram.percentile_ms(0.50),
        p99_ms: histogram.percentile_ms(0.99),
        cpu_ms_per_1k_writes: cpu_per_1k(daemon_cpu_ms, writes),
        errors: shared.errors.get(),
        writes,
        p90_ms: histogram.percentile_ms(0.90),
        p999_ms: histogram.percentile_ms(0.999),
        max_ms: histogram.max_ms(),
        mean_ms: histogram.mean_ms(),
        daemon_cpu_ms,
        client_cpu_ms,
        clients: args.clients,
        duration_s: args.duration,
        value_size: args.value_size,
        pids: pids.to_vec(),
        max_gap_ms: (args.report_gaps && seen_success).then_some(gap.as_secs_f64() * 1000.0),
        max_gap_at_s: (args.report_gaps && seen_success).then(|| {
            gap_end
                .saturating_duration_since(shared.start)
                .as_secs_f64()
        }),
        first_error: shared.first_error.borrow().clone(),
    })
}

/// One closed-loop client: put, wait, put again, until the window closes.
async fn client_loop<S: WriteSession>(
    mut session: S,
    index: u64,
    key_space: u64,
    value: &str,
    shared: &Shared,
    request_timeout: Duration,
) -> Histogram {
    let mut histogram = Histogram::new();
    let mut keys = KeySequence::new(index, key_space);
    let mut key = String::with_capacity(16);
    loop {
        let sent = Instant::now();
        if sent >= shared.window_end {
            break;
        }
        key.clear();
        let _ = write!(key, "/bench/{:08}", keys.next_key());
        let outcome = match tokio::time::timeout(request_timeout, session.put(&key, value)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(anyhow!(
                "a put timed out after {} s",
                request_timeout.as_secs_f64()
            )),
        };
        let done = Instant::now();
        match outcome {
            Ok(()) => {
                shared.success(done);
                if done >= shared.window_start && done <= shared.window_end {
                    histogram.record(done.saturating_duration_since(sent));
                }
            }
            Err(error) => {
                shared.failure(done, &error);
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    histogram
}

/// A printable value of `size` bytes (JSON carries values as strings).
pub fn bench_value(size: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..size)
        .map(|i| char::from(ALPHABET[(i * 7 + i / 36) % ALPHABET.len()]))
        .collect()
}

/// Pseudo-random keys (splitmix64), a different sequence per client.
struct KeySequence {
    state: u64,
    key_space: u64,
}

impl KeySequence {
    fn new(client: u64, key_space: u64) -> Self {
        Self {
            state: client.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x00C0_FFEE,
            key_space: key_space.max(1),
        }
    }

    fn next_key(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % self.key_space
    }
}

fn ticks_to_ms(ticks: u64) -> f64 {
    ticks as f64 * 1000.0 / USER_HZ as f64
}

fn cpu_per_1k(cpu_ms: Option<f64>, writes: u64) -> Option<f64> {
    match cpu_ms {
        Some(cpu) if writes > 0 => Some(cpu * 1000.0 / writes as f64),
        _ => None,
    }
}

/// utime + stime summed over `pids`; `None` when the list is empty or any process is unreadable
/// (gone, so its CPU cannot be accounted for).
fn cpu_ticks(pids: &[i32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    let mut total = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        total += parse_stat_cpu(&stat)?;
    }
    Some(total)
}

fn self_cpu_ticks() -> Option<u64> {
    parse_stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime (fields 14 and 15) from a `/proc/PID/stat` line. The command name (field 2) is
/// in parentheses and may contain spaces, so fields are counted after the last `)`.
pub fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Latencies in microseconds in log-linear buckets, HdrHistogram's layout: exact below 128 µs,
/// then 64 buckets per power of two (relative error under 1/64). Fixed size whatever the count.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

const SUB_BUCKETS: u64 = 128;
const HALF: u64 = SUB_BUCKETS / 2;
/// Enough buckets for any u64.
const BUCKETS: usize = (64 * HALF) as usize;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }

    fn index(us: u64) -> usize {
        if us < SUB_BUCKETS {
            return us as usize;
        }
        let msb = 63 - u64::from(us.leading_zeros());
        let shift = msb - 6; // us >> shift is in [64, 128)
        (shift * HALF + (us >> shift)) as usize
    }

    /// The smallest and largest values of bucket `index`.
    fn bounds(index: usize) -> (u64, u64) {
        let index = index as u64;
        if index < SUB_BUCKETS {
            return (index, index);
        }
        let shift = index / HALF - 1;
        let low = (index % HALF + HALF) << shift;
        (low, low + ((1u64 << shift) - 1))
    }

    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record_us(us);
    }

    pub fn record_us(&mut self, us: u64) {
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.sum_us += u128::from(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1) in µs: the middle of the bucket holding the
    /// ceil(q × count)-th smallest value, clamped to the recorded min and max. 0 when empty.
    pub fn percentile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = Self::bounds(index);
                let middle = (low as f64 + high as f64) / 2.0;
                return middle.clamp(self.min_us as f64, self.max_us as f64);
            }
        }
        self.max_us as f64
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.percentile_us(q) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.max_us as f64 / 1000.0
        }
    }

    pub fn mean_ms(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.total as f64 / 1000.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within the histogram's resolution (1/64 relative).
    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() <= want / 64.0, "{got} vs {want}");
    }

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut previous_high = None;
        for index in 0..(40 * HALF as usize) {
            let (low, high) = Histogram::bounds(index);
            if let Some(prev) = previous_high {
                assert_eq!(low, prev + 1, "bucket {index}");
            }
            assert_eq!(Histogram::index(low), index);
            assert_eq!(Histogram::index(high), index);
            previous_high = Some(high);
        }
        assert!(Histogram::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_a_uniform_range_are_within_one_percent() {
        let mut h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 1000);
        for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0), (0.999, 999.0)] {
            let got = h.percentile_ms(q);
            assert!((got - want).abs() / want < 0.01, "q={q}: {got} vs {want}");
        }
        assert_eq!(h.percentile_ms(1.0), 1000.0);
        assert_close(h.percentile_ms(0.0), 1.0);
        assert!((h.mean_ms() - 500.5).abs() < 1e-9);
        assert_eq!(h.max_ms(), 1000.0);
    }

    #[test]
    fn small_values_are_exact_and_outliers_show_in_p99() {
        let mut h = Histogram::new();
        for _ in 0..98 {
            h.record_us(100);
        }
        h.record_us(50_000);
        h.record_us(60_000);
        assert_eq!(h.percentile_us(0.5), 100.0);
        assert_eq!(h.percentile_us(0.98), 100.0);
        let p99 = h.percentile_us(0.99);
        assert!((p99 - 50_000.0).abs() / 50_000.0 < 0.01, "{p99}");
        assert_eq!(h.percentile_us(1.0), 60_000.0);
    }

    #[test]
    fn merging_adds_counts_and_empty_is_zero() {
        let empty = Histogram::new();
        assert_eq!(empty.percentile_ms(0.99), 0.0);
        assert_eq!(empty.max_ms(), 0.0);
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_us(1_000);
        b.record_us(3_000);
        b.record_us(3_000);
        a.merge(&b);
        a.merge(&empty);
        assert_eq!(a.count(), 3);
        assert_close(a.percentile_ms(0.5), 3.0);
        assert_close(a.percentile_ms(0.1), 1.0);
    }

    fn report() -> Report {
        Report {
            writes_per_s: 1234.56,
            p50_ms: 1.23456,
            p99_ms: 7.8,
            cpu_ms_per_1k_writes: Some(456.78),
            errors: 2,
            writes: 24691,
            p90_ms: 3.0,
            p999_ms: 9.0,
            max_ms: 12.0,
            mean_ms: 1.5,
            daemon_cpu_ms: Some(11278.0),
            client_cpu_ms: Some(900.0),
            clients: 16,
            duration_s: 20.0,
            value_size: 256,
            pids: vec![10, 11],
            max_gap_ms: None,
            max_gap_at_s: None,
            first_error: None,
        }
    }

    #[test]
    fn the_summary_line_has_the_contract_format() {
        assert_eq!(
            summary_line(&report()),
            "writes/s=1234.6 p50_ms=1.235 p99_ms=7.800 cpu_ms_per_1k_writes=456.8"
        );
        let unknown = Report {
            cpu_ms_per_1k_writes: None,
            ..report()
        };
        assert!(summary_line(&unknown).ends_with(" cpu_ms_per_1k_writes=n/a"));
    }

    #[test]
    fn json_has_the_same_fields_and_the_errors() {
        let value = serde_json::to_value(report()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["writes/s"], 1234.56);
        assert_eq!(value["p50_ms"], 1.23456);
        assert_eq!(value["p99_ms"], 7.8);
        assert_eq!(value["cpu_ms_per_1k_writes"], 456.78);
        assert_eq!(value["errors"], 2);
        assert!(value.get("max_gap_ms").is_none());
    }

    #[test]
    fn proc_stat_cpu_is_utime_plus_stime() {
        let line = "4242 (hakube d(a)emon) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    150 25 0 0 20 0 9 0 12345 123456789 2345 18446744073709551615";
        assert_eq!(parse_stat_cpu(line), Some(175));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert!(self_cpu_ticks().is_some());
    }

    #[test]
    fn keys_stay_in_the_key_space_and_differ_per_client() {
        let mut a = KeySequence::new(0, 1000);
        let mut b = KeySequence::new(1, 1000);
        let first: Vec<u64> = (0..100).map(|_| a.next_key()).collect();
        let second: Vec<u64> = (0..100).map(|_| b.next_key()).collect();
        assert!(first.iter().chain(&second).all(|k| *k < 1000));
        assert_ne!(first, second);
        let distinct: std::collections::BTreeSet<_> = first.iter().collect();
        assert!(distinct.len() > 90);
        assert_eq!(bench_value(300).len(), 300);
    }

    /// A target that answers in-process: checks the counting, the window and the gap tracking.
    struct FakeTarget {
        fail_between: Option<(Duration, Duration)>,
        start: Instant,
    }

    struct FakeSession {
        fail_between: Option<(Duration, Duration)>,
        start: Instant,
    }

    impl WriteTarget for FakeTarget {
        type Session = FakeSession;
        async fn session(&self) -> Result<FakeSession> {
            Ok(FakeSession {
                fail_between: self.fail_between,
                start: self.start,
            })
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    impl WriteSession for FakeSession {
        async fn put(&mut self, key: &str, value: &str) -> Result<()> {
            assert!(key.starts_with("/bench/"));
            assert_eq!(value.len(), 64);
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Some((from, to)) = self.fail_between {
                let now = self.start.elapsed();
                if now >= from && now < to {
                    bail!("no leader");
                }
            }
            Ok(())
        }
    }

    fn args(clients: usize, duration: f64) -> BenchArgs {
        BenchArgs {
            clients,
            duration,
            value_size: 64,
            key_space: 100,
            warmup: 0.1,
            json: false,
            pids: Vec::new(),
            report_gaps: true,
            connection_per_request: false,
            etcd: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_run_counts_writes_and_the_longest_gap() {
        let target = FakeTarget {
            fail_between: Some((Duration::from_millis(300), Duration::from_millis(500))),
            start: Instant::now(),
        };
        let pids = vec![std::process::id() as i32];
        let report = drive(&target, &args(4, 0.6), &pids, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.writes > 100, "{report:?}");
        assert!(report.errors > 0, "{report:?}");
        assert_eq!(report.first_error.as_deref(), Some("no leader"));
        let gap = report.max_gap_ms.unwrap_or_default();
        assert!((180.0..400.0).contains(&gap), "{report:?}");
        assert!(report.p50_ms >= 2.0, "{report:?}");
        assert!(report.cpu_ms_per_1k_writes.is_some(), "{report:?}");
    }
}
