//! Reading container logs from the CRI log files containerd writes
//! (`<RFC3339Nano time> stdout|stderr F|P <text>`, one file per run: `<container>/<n>.log`):
//! partial lines joined, with tail, since-time, byte limit and timestamps as `kubectl logs`
//! offers them, `previous` by choosing the previous run's file, and `follow` as a stream that
//! polls for growth and switches to the next run's file when one appears.

use futures::Stream;
use jiff::Timestamp;
use std::io::{BufRead, Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One parsed CRI log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub time: Timestamp,
    pub stream: LogStream,
    /// `P`: the line continues in the next record.
    pub partial: bool,
    pub text: String,
}

/// A complete line, partials joined; stamped with its first record's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: Timestamp,
    pub stream: LogStream,
    pub text: String,
}

impl LogLine {
    /// The line as `kubectl logs` prints it (with `--timestamps`: time, space, text).
    pub fn render(&self, timestamps: bool) -> String {
        if timestamps {
            format!(
                "{} {}",
                self.time.strftime("%Y-%m-%dT%H:%M:%S.%9fZ"),
                self.text
            )
        } else {
            self.text.clone()
        }
    }
}

/// `kubectl logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub tail_lines: Option<usize>,
    pub since: Option<Timestamp>,
    pub timestamps: bool,
    pub limit_bytes: Option<usize>,
}

pub fn parse_record(line: &str) -> Option<LogRecord> {
    let mut fields = line.splitn(4, ' ');
    let time: Timestamp = fields.next()?.parse().ok()?;
    let stream = match fields.next()? {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        _ => return None,
    };
    let partial = match fields.next()? {
        "P" => true,
        "F" => false,
        _ => return None,
    };
    let text = fields.next().unwrap_or_default().to_owned();
    Some(LogRecord {
        time,
        stream,
        partial,
        text,
    })
}

/// Joins records into lines, per stream (stdout and stderr interleave, each with its own
/// partial line); a trailing partial with nothing after it stays pending.
#[derive(Debug, Default)]
struct LineAssembler {
    pending_stdout: Option<LogLine>,
    pending_stderr: Option<LogLine>,
}

impl LineAssembler {
    fn push(&mut self, record: LogRecord) -> Option<LogLine> {
        let pending = match record.stream {
            LogStream::Stdout => &mut self.pending_stdout,
            LogStream::Stderr => &mut self.pending_stderr,
        };
        let mut line = match pending.take() {
            Some(mut earlier) => {
                earlier.text.push_str(&record.text);
                earlier
            }
            None => LogLine {
                time: record.time,
                stream: record.stream,
                text: record.text,
            },
        };
        if record.partial {
            line.text.shrink_to_fit();
            *pending = Some(line);
            None
        } else {
            Some(line)
        }
    }
}

/// The lines of one log file, filtered as `options` say, rendered for output.
pub fn read_log(path: &Path, options: &LogOptions) -> Result<Vec<String>, LogError> {
    let read_error = |source| LogError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut assembler = LineAssembler::default();
    let mut lines = Vec::new();
    for raw in std::io::BufReader::new(file).lines() {
        let raw = raw.map_err(read_error)?;
        if let Some(line) = parse_record(&raw).and_then(|record| assembler.push(record))
            && options.since.is_none_or(|since| line.time >= since)
        {
            lines.push(line.render(options.timestamps));
        }
    }
    if let Some(tail_lines) = options.tail_lines {
        lines.drain(..lines.len().saturating_sub(tail_lines));
    }
    if let Some(limit_bytes) = options.limit_bytes {
        let mut total = 0;
        lines.retain(|line| {
            total += line.len() + 1;
            total <= limit_bytes
        });
    }
    Ok(lines)
}

/// The log file of run `attempt` of a container in its pod directory.
pub fn log_file(pod_dir: &Path, container_name: &str, attempt: u32) -> PathBuf {
    pod_dir.join(container_name).join(format!("{attempt}.log"))
}

/// The newest run's file, or with `previous` the one before it (`kubectl logs --previous`).
pub fn find_log_file(pod_dir: &Path, container_name: &str, previous: bool) -> Option<PathBuf> {
    let mut attempts: Vec<u32> = std::fs::read_dir(pod_dir.join(container_name))
        .ok()?
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    attempts.sort_unstable();
    let attempt = if previous {
        attempts.iter().rev().nth(1)?
    } else {
        attempts.last()?
    };
    Some(log_file(pod_dir, container_name, *attempt))
}

/// State of a follow: the file being read, the offset reached, a partial line pending.
struct Follower {
    path: PathBuf,
    offset: u64,
    assembler: LineAssembler,
    carry: String,
    ready: std::collections::VecDeque<String>,
    options: LogOptions,
}

/// Follows a log from the start of `path` (after the `tail_lines` already there): yields
/// rendered lines as they are written, and moves on to the container's next run's file when
/// one appears. Pull-based, so nothing piles up if the consumer is slow.
pub fn follow_log(
    path: PathBuf,
    options: LogOptions,
) -> impl Stream<Item = Result<String, LogError>> {
    let initial = read_log(&path, &options);
    let offset = std::fs::metadata(&path)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    let (ready, error) = match initial {
        Ok(lines) => (lines.into(), None),
        Err(error) => (std::collections::VecDeque::new(), Some(error)),
    };
    let follower = Follower {
        path,
        offset,
        assembler: LineAssembler::default(),
        carry: String::new(),
        ready,
        options: LogOptions {
            tail_lines: None,
            limit_bytes: None,
            ..options
        },
    };
    futures::stream::unfold((follower, error), |(mut follower, error)| async move {
        if let Some(error) = error {
            return Some((Err(error), (follower, None)));
        }
        loop {
            if let Some(line) = follower.ready.pop_front() {
                return Some((Ok(line), (follower, None)));
            }
            match follower.poll_once() {
                Ok(true) => continue,
                Ok(false) => tokio::time::sleep(FOLLOW_POLL_INTERVAL).await,
                Err(error) => return Some((Err(error), (follower, None))),
            }
        }
    })
}

impl Follower {
    /// Reads what was appended; returns whether anything new arrived.
    fn poll_once(&mut self) -> Result<bool, LogError> {
        let read_error = |source| LogError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(read_error)?;
        file.seek(std::io::SeekFrom::Start(self.offset))
            .map_err(read_error)?;
        let mut appended = String::new();
        let read = file.read_to_string(&mut appended).map_err(read_error)?;
        self.offset += read as u64;
        self.carry.push_str(&appended);
        while let Some(end) = self.carry.find('\n') {
            let raw: String = self.carry.drain(..=end).collect();
            if let Some(line) = parse_record(raw.trim_end_matches('\n'))
                .and_then(|record| self.assembler.push(record))
                && self.options.since.is_none_or(|since| line.time >= since)
            {
                self.ready.push_back(line.render(self.options.timestamps));
            }
        }
        if read > 0 {
            return Ok(true);
        }
        Ok(self.switch_to_next_run())
    }

    /// Moves to `<n+1>.log` once the container's next run has written it.
    fn switch_to_next_run(&mut self) -> bool {
        let next = self
            .path
            .file_stem()
            .and_then(|stem| stem.to_str()?.parse::<u32>().ok())
            .map(|attempt| self.path.with_file_name(format!("{}.log", attempt + 1)));
        match next {
            Some(next) if next.exists() => {
                self.path = next;
                self.offset = 0;
                self.carry.clear();
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
