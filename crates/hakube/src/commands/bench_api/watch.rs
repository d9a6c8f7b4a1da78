//! `api-bench --mode watch`: `--watchers` watches on one namespace's Pods, opened from a LIST's
//! resourceVersion, then creates at `--rate`; each ADDED event's delivery latency is its arrival
//! at the watcher minus the create's answer (0 when it came first), and every event must
//! arrive within `WATCH_GRACE` of the last create.

use super::*;

/// How long a watch run waits after the last write for events still on their way.
const WATCH_GRACE: Duration = Duration::from_secs(15);

#[derive(Serialize, Debug, Default)]
pub(super) struct WatchReport {
    watchers: usize,
    watch_connections: usize,
    /// Time to open every watch (all answered 200).
    watch_setup_ms: f64,
    writes_ok: u64,
    write_errors: u64,
    write_p50_ms: f64,
    write_p99_ms: f64,
    events_expected: u64,
    /// Events not delivered within `WATCH_GRACE` after the last write.
    events_missing: u64,
    events_before_ack: u64,
    from_send_p50_ms: f64,
    from_send_p99_ms: f64,
    from_send_max_ms: f64,
    /// Watches that ended early or sent an ERROR event.
    watch_errors: u64,
}

/// What one watcher saw.
#[derive(Default)]
struct WatcherTally {
    /// Arrival minus acknowledgement (events that arrived after their create's answer).
    from_ack: Histogram,
    /// Indexes of the events that arrived before their create's answer.
    early: Vec<u64>,
    /// Arrival (ns from t0) of every event, by create index, for the from-send latency.
    arrivals: Vec<(u64, u64)>,
    events: u64,
    errors: u64,
    first_error: Option<String>,
}

/// The index `N` of an ADDED event of Pod `bench-<run>-N` in one watch line (`needle` is
/// `"name":"bench-<run>-`); `Err` for an ERROR event.
fn added_index(line: &[u8], needle: &str) -> Result<Option<u64>, String> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Ok(None);
    };
    let kind = text
        .rfind("\"type\":\"")
        .map(|at| &text[at + 8..])
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("");
    if kind == "ERROR" {
        return Err(text.chars().take(300).collect());
    }
    if kind != "ADDED" {
        return Ok(None);
    }
    let Some(at) = text.find(needle) else {
        return Ok(None);
    };
    let digits: &str = text[at + needle.len()..]
        .split('"')
        .next()
        .unwrap_or_default();
    Ok(digits.parse().ok())
}

/// Shared by the writers and the watchers of a watch run.
struct WatchShared {
    t0: Instant,
    /// Acknowledgement time of create `i`, ns from t0 plus 1 (0: not acknowledged yet).
    acks: Vec<AtomicU64>,
    /// Scheduled send time of create `i`, ns from t0.
    sends: Vec<AtomicU64>,
    events: AtomicU64,
    needle: String,
}

impl WatchShared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

async fn watcher(
    api: Arc<Api>,
    index: usize,
    path: String,
    shared: Arc<WatchShared>,
    opened: tokio::sync::mpsc::Sender<Result<(), String>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> WatcherTally {
    let mut tally = WatcherTally::default();
    let response = match api
        .send(index, Method::GET, &path, None, Bytes::new())
        .await
    {
        Ok(response) if response.status() == StatusCode::OK => response,
        Ok(response) => {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|c| String::from_utf8_lossy(&c.to_bytes()).into_owned())
                .unwrap_or_default();
            let _ = opened.send(Err(format!("{status}: {body}"))).await;
            tally.errors += 1;
            return tally;
        }
        Err(error) => {
            let _ = opened.send(Err(error.detail)).await;
            tally.errors += 1;
            return tally;
        }
    };
    let _ = opened.send(Ok(())).await;
    drop(opened);
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => return tally,
            frame = body.frame() => frame,
        };
        let data = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(error)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(error_chain(&error));
                return tally;
            }
            None => {
                if !*stop.borrow() {
                    tally.errors += 1;
                    tally
                        .first_error
                        .get_or_insert_with(|| "the server ended the watch".into());
                }
                return tally;
            }
        };
        let arrival = shared.now_ns();
        pending.extend_from_slice(&data);
        let mut consumed = 0;
        while let Some(end) = pending[consumed..].iter().position(|b| *b == b'\n') {
            let line = &pending[consumed..consumed + end];
            consumed += end + 1;
            match added_index(line, &shared.needle) {
                Ok(Some(i)) => {
                    let Some(ack) = shared.acks.get(i as usize) else {
                        continue;
                    };
                    tally.events += 1;
                    shared.events.fetch_add(1, Ordering::Relaxed);
                    tally.arrivals.push((i, arrival));
                    match ack.load(Ordering::Acquire) {
                        0 => tally.early.push(i),
                        acked => tally
                            .from_ack
                            .record(Duration::from_nanos(arrival.saturating_sub(acked - 1))),
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(error);
                }
            }
        }
        pending.drain(..consumed);
    }
}

pub(super) async fn watch_run(
    args: &ApiBenchArgs,
    api: &Arc<Api>,
    tls: &rustls::ClientConfig,
    servers: &[String],
    mut report: Report,
    total: u64,
) -> Result<Report> {
    let namespace = &args.namespace;
    let (version, _) = list_pods(api, namespace).await?;
    let run = run_id();
    let shared = Arc::new(WatchShared {
        t0: Instant::now(),
        acks: (0..total).map(|_| AtomicU64::new(0)).collect(),
        sends: (0..total).map(|_| AtomicU64::new(0)).collect(),
        events: AtomicU64::new(0),
        needle: format!("\"name\":\"bench-{run}-"),
    });

    // The watches, on their own connections.
    let watch_connections = args.watchers.div_ceil(args.watches_per_connection);
    let watch_api = Arc::new(Api::new(tls, servers, watch_connections));
    let path = format!(
        "{}?watch=true&resourceVersion={version}&timeoutSeconds=3600",
        pods_path(namespace)
    );
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(args.watchers);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let setup = Instant::now();
    let mut watchers = JoinSet::new();
    for w in 0..args.watchers {
        watchers.spawn(watcher(
            watch_api.clone(),
            w / args.watches_per_connection,
            path.clone(),
            shared.clone(),
            opened_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(opened_tx);
    let mut open = 0;
    let mut failed = Vec::new();
    let setup_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while open + failed.len() < args.watchers {
        match tokio::time::timeout_at(setup_deadline, opened_rx.recv()).await {
            Ok(Some(Ok(()))) => open += 1,
            Ok(Some(Err(error))) => failed.push(error),
            Ok(None) => break,
            Err(_) => {
                let _ = stop_tx.send(true);
                bail!(
                    "only {open} of {} watches opened within 120 s ({} refused{})",
                    args.watchers,
                    failed.len(),
                    failed
                        .first()
                        .map(|e| format!("; first: {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(error) = failed.first() {
        let _ = stop_tx.send(true);
        bail!(
            "{} of {} watches were refused; first: {error}",
            failed.len(),
            args.watchers
        );
    }
    let watch_setup_ms = setup.elapsed().as_secs_f64() * 1000.0;

    // The writes.
    let path = pods_path(namespace);
    let writer_api = api.clone();
    let writer_shared = shared.clone();
    let make: MakeRequest = Box::new(move |i, scheduled| {
        let api = writer_api.clone();
        let shared = writer_shared.clone();
        let path = path.clone();
        let body = pod_body(&format!("bench-{run}-{i}"));
        let sent = u64::try_from(scheduled.saturating_duration_since(shared.t0).as_nanos())
            .unwrap_or(u64::MAX);
        shared.sends[i as usize].store(sent, Ordering::Relaxed);
        Box::pin(async move {
            let index = api.pick();
            api.call(index, Method::POST, &path, Some("application/json"), body)
                .await?;
            shared.acks[i as usize].store(shared.now_ns() + 1, Ordering::Release);
            Ok(())
        })
    });
    let server_before = cpu_ms(&args.pids);
    let client_before = self_cpu_ms();
    let (writes, start, dispatched) = open_loop(args, total, make).await;

    // Wait for the events still on their way.
    let expected = writes.ok * args.watchers as u64;
    let grace = Instant::now() + WATCH_GRACE;
    while shared.events.load(Ordering::Relaxed) < expected && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last_event = Instant::now();
    let server_cpu = difference(server_before, cpu_ms(&args.pids));
    report.client_cpu_ms = difference(client_before, self_cpu_ms());
    let _ = stop_tx.send(true);

    let mut from_ack = Histogram::new();
    let mut from_send = Histogram::new();
    let mut events = 0;
    let mut before_ack = 0;
    let mut watch_errors = 0;
    let mut first_watch_error = None;
    while let Some(result) = watchers.join_next().await {
        let tally = result.context("a watcher failed")?;
        events += tally.events;
        watch_errors += tally.errors;
        if first_watch_error.is_none() {
            first_watch_error = tally.first_error.clone();
        }
        from_ack.merge(&tally.from_ack);
        for i in &tally.early {
            // Arrived before the answer to its create: 0 ms after the acknowledgement.
            if shared.acks[*i as usize].load(Ordering::Acquire) != 0 {
                before_ack += 1;
                from_ack.record_us(0);
            }
        }
        for (i, arrival) in &tally.arrivals {
            let sent = shared.sends[*i as usize].load(Ordering::Relaxed);
            from_send.record(Duration::from_nanos(arrival.saturating_sub(sent)));
        }
    }

    report.count = events;
    report.errors = writes.errors + watch_errors + expected.saturating_sub(events);
    let elapsed = run_length(args.seconds, &writes, start, dispatched);
    report.elapsed_s = last_event.saturating_duration_since(start).as_secs_f64();
    report.dispatch_s = dispatched.saturating_duration_since(start).as_secs_f64();
    report.achieved_rate = if elapsed > 0.0 {
        writes.ok as f64 / elapsed
    } else {
        0.0
    };
    report.p50_ms = from_ack.percentile_ms(0.50);
    report.p90_ms = from_ack.percentile_ms(0.90);
    report.p99_ms = from_ack.percentile_ms(0.99);
    report.p999_ms = from_ack.percentile_ms(0.999);
    report.max_ms = from_ack.max_ms();
    report.mean_ms = from_ack.mean_ms();
    report.error_kinds = writes.kinds.clone();
    report.error_examples = writes.examples.clone();
    if watch_errors > 0 {
        report.error_kinds.insert("watch".into(), watch_errors);
        if let Some(error) = &first_watch_error {
            report.error_examples.insert("watch".into(), error.clone());
        }
    }
    if expected > events {
        report
            .error_kinds
            .insert("event missing".into(), expected - events);
        report.error_examples.insert(
            "event missing".into(),
            format!(
                "not delivered within {} s after the last write",
                WATCH_GRACE.as_secs()
            ),
        );
    }
    report.first_error = writes.first_error.clone().or(first_watch_error);
    report.server_cpu_ms = server_cpu;
    report.server_cpu_ms_per_request = server_cpu
        .filter(|_| writes.ok > 0)
        .map(|cpu| cpu / writes.ok as f64);
    report.watch = Some(WatchReport {
        watchers: args.watchers,
        watch_connections,
        watch_setup_ms,
        writes_ok: writes.ok,
        write_errors: writes.errors,
        write_p50_ms: writes.histogram.percentile_ms(0.50),
        write_p99_ms: writes.histogram.percentile_ms(0.99),
        events_expected: expected,
        events_missing: expected.saturating_sub(events),
        events_before_ack: before_ack,
        from_send_p50_ms: from_send.percentile_ms(0.50),
        from_send_p99_ms: from_send.percentile_ms(0.99),
        from_send_max_ms: from_send.max_ms(),
        watch_errors,
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_lines_give_the_index_of_added_pods() {
        let needle = "\"name\":\"bench-abc-";
        let line = br#"{"object":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"bench"},"name":"bench-abc-42","namespace":"w"},"spec":{"containers":[{"image":"busybox","name":"c"}]}},"type":"ADDED"}"#;
        assert_eq!(added_index(line, needle), Ok(Some(42)));
        let modified = String::from_utf8_lossy(line).replace("ADDED", "MODIFIED");
        assert_eq!(added_index(modified.as_bytes(), needle), Ok(None));
        let other = String::from_utf8_lossy(line).replace("bench-abc-42", "bench-7");
        assert_eq!(added_index(other.as_bytes(), needle), Ok(None));
        let error = br#"{"object":{"kind":"Status","code":410},"type":"ERROR"}"#;
        assert!(added_index(error, needle).is_err());
    }
}
