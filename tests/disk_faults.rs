//! The real binary on a damaged or full disk: a database that lost records
//! is reported with a copy kept; a full disk at startup leaves the
//! database alone; a full disk while serving logs a little, and saving
//! resumes by itself when space returns.
//!
//! The full-disk tests mount a small tmpfs (root only) and skip, saying
//! so, when they cannot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{http, proxy, Running};
use mock_upstream::{MockUpstream, Reply};
use serde_json::Value;

const KEY_1: &str = "disk-fault-key-one-0001";
const KEY_2: &str = "disk-fault-key-two-0002";

fn command(dir: &Path, mock: &MockUpstream) -> std::process::Command {
    let base = mock.base_url.clone();
    let env = [
        ("RUST_LOG", "info"),
        ("MOCK_API_BASE", base.as_str()),
        ("MOCK_API_KEY_1", KEY_1),
        ("MOCK_API_KEY_2", KEY_2),
    ];
    let mut cmd = proxy(dir, &env);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    cmd
}

fn chat(addr: &str, model: &str) -> u16 {
    let body =
        format!(r#"{{"model":"mock/{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    http(addr, "POST", "/v1/chat/completions", &body).0
}

/// Key 1's state for `model` in `/v1/usage`.
fn key_1_model(addr: &str, model: &str) -> Value {
    let (_, usage) = http(addr, "GET", "/v1/usage", "");
    let usage: Value = serde_json::from_str(&usage).unwrap();
    usage["providers"]["mock"]["keys"][0]["models"][model].clone()
}

/// Key 1 rests 900 s for `model` (it answers 429); key 2 serves.
fn rest_key_1(mock: &MockUpstream, addr: &str, model: &str) {
    mock.script(
        KEY_1,
        model,
        vec![Reply::status(429).with_header("Retry-After", "900")],
    );
    // Key 1 is tried first only while it is the least used: ask until it
    // has been.
    for _ in 0..4 {
        assert_eq!(chat(addr, model), 200);
        if mock.calls(KEY_1, model) > 0 {
            return;
        }
    }
    panic!("key 1 was never tried for {model}");
}

/// Waits (up to 10 s) until the database's generation side file names a
/// flushed generation.
fn wait_for_side_file(data: &Path) {
    let side = data.join("state.sled").join("proxy-generation");
    for _ in 0..500 {
        let text = std::fs::read_to_string(&side).unwrap_or_default();
        if text.trim().parse::<u64>().is_ok_and(|g| g > 0) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} never named a generation", side.display());
}

fn corrupt_copies(data: &Path) -> usize {
    std::fs::read_dir(data)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().contains("corrupt")
        })
        .count()
}

#[test]
fn a_database_that_lost_records_is_reported_and_a_copy_kept() {
    let mock = MockUpstream::start_in_background();
    for damage in ["overwrite", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let running = Running::start(command(dir.path(), &mock));
        rest_key_1(&mock, &running.addr, damage);
        // The side file is mirrored just after the cooldown's flush, off
        // the pool's thread; a kill between the two leaves nothing to
        // compare a damaged database with.
        wait_for_side_file(&data);
        running.kill_hard();

        let db = data.join("state.sled").join("db");
        let file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        if damage == "overwrite" {
            use std::os::unix::fs::FileExt;
            file.write_all_at(&[0xA5; 64], 16).unwrap();
        } else {
            file.set_len(0).unwrap();
        }
        drop(file);

        let running = Running::start(command(dir.path(), &mock));
        let log = running.startup.join("\n");
        assert!(
            log.contains("ERROR") && log.contains("STATE WAS LOST"),
            "{damage}: {log}"
        );
        assert_eq!(corrupt_copies(&data), 1, "{damage}: a copy is kept: {log}");
        assert!(
            !data.join("state.sled.check").exists(),
            "no leftover working copy"
        );
        assert_eq!(chat(&running.addr, "m"), 200, "{damage}: still serving");
        drop(running);

        // Reported once: the next start finds the database consistent.
        let running = Running::start(command(dir.path(), &mock));
        let log = running.startup.join("\n");
        assert!(!log.contains("STATE WAS LOST"), "{damage}: {log}");
        assert_eq!(corrupt_copies(&data), 1);
    }
}

#[test]
fn an_intact_database_raises_no_alarm_and_keeps_no_copy() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(command(dir.path(), &mock));
    rest_key_1(&mock, &running.addr, "m");
    running.kill_hard();
    let running = Running::start(command(dir.path(), &mock));
    let log = running.startup.join("\n");
    assert!(!log.contains("LOST") && !log.contains("ERROR"), "{log}");
    assert!(key_1_model(&running.addr, "m")["cooldown_until"].is_string());
    let data = dir.path().join("data");
    let entries: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["state.sled".to_string()], "{entries:?}");
}

#[test]
fn a_database_held_by_another_proxy_is_one_plain_line() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let _first = Running::start(command(dir.path(), &mock));
    let out = command(dir.path(), &mock).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("another llm-key-proxy is running")
            && lines[0].contains("data/state.sled")
            && lines[0].contains("--data-dir")
            && !lines[0].contains("WouldBlock"),
        "{stderr}"
    );
}

/// A tmpfs of `size` mounted at `at`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs(at.to_path_buf())),
            Ok(out) => {
                skip(format!(
                    "cannot mount a tmpfs to fill ({}); run the tests as root to cover a full disk",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(format!("cannot run mount ({e}); run the tests as root"));
                None
            }
        }
    }

    /// Fills the filesystem; the returned file frees it when removed.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&chunk[..512]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_at_startup_leaves_the_database_alone() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(disk) = Tmpfs::mount(&data, "4m") else {
        return;
    };
    let running = Running::start(command(dir.path(), &mock));
    rest_key_1(&mock, &running.addr, "m");
    running.kill_hard();

    let filler = disk.fill();
    let out = command(dir.path(), &mock).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.contains("is full") && last.contains("data/state.sled"),
        "{stderr}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("ERROR") || l.contains("WARN")),
        "one line: {stderr}"
    );
    assert_eq!(corrupt_copies(&data), 0, "not moved aside: {stderr}");

    std::fs::remove_file(filler).unwrap();
    let running = Running::start(command(dir.path(), &mock));
    let model = key_1_model(&running.addr, "m");
    assert!(model["cooldown_until"].is_string(), "{model}");
    drop(running);
    drop(disk);
}

#[test]
fn a_full_disk_while_serving_logs_little_and_saving_resumes() {
    let mock = MockUpstream::start_in_background();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(disk) = Tmpfs::mount(&data, "4m") else {
        return;
    };
    let running = Logged::start(command(dir.path(), &mock));
    let (addr, log) = (running.addr.clone(), running.log.clone());
    assert_eq!(chat(&addr, "m"), 200);

    let filler = disk.fill();
    rest_key_1(&mock, &addr, "while-full");
    let errors = |log: &Arc<Mutex<Vec<String>>>| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("ERROR"))
            .cloned()
            .collect::<Vec<_>>()
    };
    // sled fills the pages it already has before it needs a new one.
    for i in 0..2_000 {
        assert_eq!(chat(&addr, &format!("m{i}")), 200, "requests go on");
        if i % 50 == 49 && !errors(&log).is_empty() {
            break;
        }
    }
    for i in 0..100 {
        assert_eq!(chat(&addr, &format!("more{i}")), 200, "requests go on");
    }
    std::thread::sleep(Duration::from_millis(600));
    let seen = errors(&log);
    assert!(
        !seen.is_empty(),
        "the failure is logged: {:#?}",
        log.lock().unwrap()
    );
    assert!(seen.len() <= 2, "at most once per 10 s: {seen:#?}");
    assert!(
        seen[0].contains("No space left on device") || seen[0].contains("full"),
        "{seen:#?}"
    );

    std::fs::remove_file(filler).unwrap();
    let started = Instant::now();
    while !log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("writable again"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "saving never resumed: {:#?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rest_key_1(&mock, &addr, "after-full");
    drop(running); // SIGKILL

    let running = Running::start(command(dir.path(), &mock));
    for model in ["while-full", "after-full"] {
        let state = key_1_model(&running.addr, model);
        assert!(
            state["cooldown_until"].is_string(),
            "{model}: {state}\n{:#?}\n{:#?}",
            running.startup,
            log.lock().unwrap()
        );
    }
    drop(running);
    drop(disk);
}

/// The binary with its whole log collected in the background.
struct Logged {
    child: std::process::Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    fn start(mut cmd: std::process::Command) -> Logged {
        use std::io::BufRead;
        let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        let addr = loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                l.find("listening on http://")
                    .map(|at| l[at + "listening on http://".len()..].trim().to_string())
            });
            if let Some(addr) = found {
                break addr;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{log:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Logged { child, addr, log }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints why a test is skipped; with `LLMKP_REQUIRE_TOOLS` set (`.ci/run`
/// sets it, as root) a skip is a failure instead.
fn skip(why: String) {
    assert!(
        std::env::var_os("LLMKP_REQUIRE_TOOLS").is_none(),
        "LLMKP_REQUIRE_TOOLS is set but {why}"
    );
    eprintln!("SKIPPED: {why}");
}
