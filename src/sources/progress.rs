//! Progress on stderr: counters that the sources bump, and a thread that shows them. On a terminal
//! it is a live line (indicatif); with `--progress` on a pipe or in a CI log, a plain line a
//! second; otherwise nothing is shown, and the counters still feed the summary.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Counters {
    items: AtomicU64,
    bytes: AtomicU64,
    commits: AtomicU64,
    commits_total: AtomicU64,
    done: AtomicBool,
}

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Hidden,
    Terminal,
    /// One plain line a second (for logs).
    Lines,
}

#[derive(Debug)]
pub struct Progress {
    counters: Arc<Counters>,
    renderer: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    pub fn hidden() -> Progress {
        Progress {
            counters: Arc::default(),
            renderer: Mutex::new(None),
        }
    }

    /// Starts showing progress; `what` names the items ("files", "blobs").
    pub fn start(display: Display, what: &'static str) -> Progress {
        let progress = Progress::hidden();
        if display == Display::Hidden {
            return progress;
        }
        let counters = progress.counters.clone();
        let handle = std::thread::spawn(move || render(&counters, display, what));
        *crate::lock(&progress.renderer) = Some(handle);
        progress
    }

    /// One file or blob of `bytes` was scanned.
    pub fn item(&self, bytes: u64) {
        self.counters.items.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn commit(&self) {
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_commits_total(&self, total: u64) {
        self.counters.commits_total.store(total, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Stops showing progress and clears the line.
    pub fn finish(&self) {
        self.counters.done.store(true, Ordering::Relaxed);
        if let Some(handle) = crate::lock(&self.renderer).take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn line(c: &Counters, what: &str, started: Instant) -> String {
    let bytes = c.bytes.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let commits = c.commits.load(Ordering::Relaxed);
    let total = c.commits_total.load(Ordering::Relaxed);
    let commits = if total > 0 {
        format!("{commits}/{total} commits, ")
    } else {
        String::new()
    };
    format!(
        "{commits}{} {what}, {mib:.1} MiB ({:.1} MiB/s)",
        c.items.load(Ordering::Relaxed),
        mib / secs
    )
}

fn render(c: &Counters, display: Display, what: &'static str) {
    let started = Instant::now();
    let bar = (display == Display::Terminal).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} scanning: {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let mut last_line = Instant::now();
    while !c.done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        match &bar {
            // A scan that ends quickly gets no flashing progress line.
            Some(_) if started.elapsed() < Duration::from_millis(300) => {}
            Some(bar) => {
                bar.set_message(line(c, what, started));
                bar.tick();
            }
            None if last_line.elapsed() >= Duration::from_secs(1) => {
                eprintln!("skguard: scanning: {}", line(c, what, started));
                last_line = Instant::now();
            }
            None => {}
        }
    }
    match bar {
        Some(bar) => bar.finish_and_clear(),
        // A log gets the final count too, however short the scan.
        None => eprintln!("skguard: scanned: {}", line(c, what, started)),
    }
}
