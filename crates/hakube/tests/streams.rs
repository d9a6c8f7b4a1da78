//! Streams into pods with the real kubectl 1.28, 1.33 and 1.37: `exec` (output, stderr,
//! exit codes, stdin, a terminal), `attach`, `port-forward`, and from inside a pod on one
//! node, `wget` and `ping` of a pod on another. The API server relays each upgrade to the
//! pod's node agent. kubectl 1.28 speaks SPDY, which the agent relays to containerd's stream
//! server; kubectl 1.33 and 1.37 speak WebSocket (remote command v5, SPDY tunnelled for
//! port-forward), which the agent serves itself, speaking SPDY to containerd; `-v=6` shows
//! they upgrade on the first try (no fallback to SPDY).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::images::{guard_cluster_cidr, import_images};
use common::kubectl::{Kubectl, contains};
use common::{Cluster, wait_until};

const PODS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  nodeSelector:
    kubernetes.io/hostname: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: shell
    image: hakube.local/busybox:1
    command: [\"sleep\", \"3600\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeSelector:
    kubernetes.io/hostname: node2
  containers:
  - name: web
    image: hakube.local/nginx:1.27
---
apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  nodeSelector:
    kubernetes.io/hostname: node3
  terminationGracePeriodSeconds: 1
  containers:
  - name: ticker
    image: hakube.local/busybox:1
    command: [\"sh\", \"-c\", \"i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done\"]
---
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - name: done
    image: hakube.local/busybox:1
    command: [\"true\"]
";

/// A child process stopped by its PID when the test ends, however it ends.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /` on 127.0.0.1:`port`, or nothing.
fn http_get(port: u16) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Whether kubectl `version` speaks WebSocket first (1.30 and later).
fn websocket_first(version: &str) -> bool {
    version != "1.28"
}

/// The `-v=6` log of kubectl `version` shows the stream's upgrade on the first try: a 101 on a
/// GET (the WebSocket handshake) for 1.30 and later, with no fallback to SPDY; a 101 on a
/// POST (SPDY) for 1.28.
fn assert_upgraded(version: &str, what: &str, log: &str) {
    let method = if websocket_first(version) {
        "GET"
    } else {
        "POST"
    };
    let upgraded = log.lines().any(|line| {
        line.contains("101 Switching Protocols")
            && (line.contains(&format!("verb=\"{method}\""))
                || line.contains(&format!("{method} https://")))
    });
    assert!(
        upgraded,
        "kubectl {version} {what}: no 101 answer to a {method} in its log:\n{log}"
    );
    assert!(
        !log.to_lowercase().contains("fallback"),
        "kubectl {version} {what} fell back:\n{log}"
    );
}

/// The `-v=6` lines of `log` that show how a stream was opened, for the test's output.
fn upgrade_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("101 Switching Protocols") || l.to_lowercase().contains("fallback"))
        .collect()
}

fn exec_checks(kubectl: &Kubectl, version: &str, web_ip: &str) {
    // Output, stderr and the exit code come back separately.
    let run = kubectl.run(&[
        "-v=6",
        "exec",
        "shell",
        "--",
        "sh",
        "-c",
        "echo out-$HOSTNAME; echo err-line >&2; exit 3",
    ]);
    assert_eq!(
        run.code, 3,
        "kubectl {version}: {}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.stdout.trim(), "out-shell", "kubectl {version}");
    contains(&run.stderr, "err-line");
    assert_upgraded(version, "exec", &run.stderr);
    println!("kubectl {version} exec: {:?}", upgrade_lines(&run.stderr));

    // Standard input reaches the process, and its end ends it.
    let mut child = kubectl
        .command(&[
            "-v=6",
            "exec",
            "-i",
            "shell",
            "--",
            "sh",
            "-c",
            "cat; echo end",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kubectl {version} exec -i: {output:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "line one\nline two\nend\n",
        "kubectl {version}"
    );
    assert_upgraded(version, "exec -i", &String::from_utf8_lossy(&output.stderr));

    // Much output, in many frames: all of it arrives before the status ends the stream.
    let lines = kubectl.ok(&["exec", "shell", "--", "seq", "1", "200000"]);
    assert_eq!(lines.lines().count(), 200_000, "kubectl {version}");
    assert_eq!(lines.lines().last(), Some("200000"), "kubectl {version}");

    // Much input, in many messages.
    let mut child = kubectl
        .command(&["exec", "-i", "shell", "--", "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = vec![b'x'; 2_000_000];
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "2000000",
        "kubectl {version} exec -i: {output:?}"
    );

    // A terminal: `exec -it` under script(1), which gives kubectl a pseudo-terminal, sized
    // first with stty; kubectl sends that size (the resize stream), which the command sees.
    let command_line = format!(
        "stty rows 27 cols 91; {} --kubeconfig {} --cache-dir {} -v=6 exec -it shell -- \
         sh -c 'tty; sleep 1; stty size'",
        kubectl.binary.display(),
        kubectl.kubeconfig.display(),
        kubectl.cache.path().display()
    );
    let output = Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&output.stdout);
    contains(&terminal, "/dev/pts/");
    contains(&terminal, "27 91");
    assert_upgraded(version, "exec -it", &terminal);

    // From a pod on node1 to the pod on node2.
    contains(
        &kubectl.ok(&[
            "exec",
            "shell",
            "--",
            "wget",
            "-qO-",
            &format!("http://{web_ip}/"),
        ]),
        "hello from nginx",
    );
}

fn attach_check(kubectl: &Kubectl, version: &str) {
    let mut child = Stopped(
        kubectl
            .command(&["-v=6", "attach", "ticker"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = collect(child.0.stderr.take().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let line = receiver.recv_timeout(Duration::from_secs(30));
    assert!(
        line.as_deref().is_ok_and(|l| l.starts_with("tick ")),
        "kubectl {version} attach printed {line:?}"
    );
    drop(child);
    let log = log.join().unwrap();
    assert_upgraded(version, "attach", &log);
    println!("kubectl {version} attach: {:?}", upgrade_lines(&log));
}

/// Everything `stream` yields until it ends, read on a thread (joined once the writer is
/// stopped).
fn collect(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn port_forward_check(kubectl: &Kubectl, version: &str) {
    let port = free_port();
    let mut forward = Stopped(
        kubectl
            .command(&[
                "-v=6",
                "port-forward",
                "--address",
                "127.0.0.1",
                "pod/web",
                &format!("{port}:80"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = collect(forward.0.stderr.take().unwrap());
    let mut last = String::new();
    let served = wait_until(Duration::from_secs(30), || {
        last = http_get(port);
        last.contains("hello from nginx")
    });
    assert!(served, "kubectl {version} port-forward answered {last:?}");
    // A second connection through the same forward.
    contains(&http_get(port), "hello from nginx");
    drop(forward);
    let log = log.join().unwrap();
    assert_upgraded(version, "port-forward", &log);
    println!("kubectl {version} port-forward: {:?}", upgrade_lines(&log));
}

#[test]
fn exec_attach_and_port_forward_reach_containers_with_every_kubectl() {
    let cidr = "10.173.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up(
        "127.21.73",
        3,
        &[
            "--cluster-cidr",
            cidr,
            "--streaming-connection-idle-timeout",
            "8",
        ],
    );
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");
    kubectl.apply(&["apply"], PODS);
    for pod in ["shell", "web", "ticker"] {
        contains(
            &kubectl.ok(&[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=120s",
            ]),
            "condition met",
        );
    }
    let web_ip = kubectl.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    assert!(web_ip.starts_with("10.173."), "{web_ip}");

    for version in ["1.28", "1.33", "1.37"] {
        let kubectl = Kubectl::new(&cluster, version);
        exec_checks(&kubectl, version, &web_ip);
        attach_check(&kubectl, version);
        port_forward_check(&kubectl, version);
    }

    // ping across nodes (busybox's, with the runtime's default NET_RAW capability).
    contains(
        &kubectl.ok(&["exec", "shell", "--", "ping", "-c", "1", "-W", "5", &web_ip]),
        "1 packets received",
    );

    // A stream idle for --streaming-connection-idle-timeout (8 s here) is closed.
    let started = std::time::Instant::now();
    let idle = kubectl.run(&["exec", "shell", "--", "sleep", "60"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(40),
        "an idle exec stayed open {took:?}: {}\n{}",
        idle.stdout,
        idle.stderr
    );
    println!("idle exec closed after {took:?}: {}", idle.stderr.trim());

    // What cannot be streamed says why, like upstream.
    contains(
        &kubectl.fails(&["exec", "shell", "-c", "nope", "--", "true"]),
        "container nope is not valid for pod shell",
    );
    contains(
        &kubectl.fails(&["exec", "missing", "--", "true"]),
        "pods \"missing\" not found",
    );
    let finished = wait_until(Duration::from_secs(60), || {
        kubectl.ok(&["get", "pod", "done", "-o", "jsonpath={.status.phase}"]) == "Succeeded"
    });
    assert!(finished, "pod done did not finish");
    contains(
        &kubectl.fails(&["exec", "done", "--", "true"]),
        "completed pod; current phase is Succeeded",
    );
}
