//! A directory watched for changes (notify), debounced: every settled change is a revision.
//! A revision is read only when the directory is settled — quiet, with no file still open
//! for writing — and read twice to the same content, so a file rewritten slowly is never
//! taken half-written (a half file can look like services that left the source).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::files;
use crate::api::Parsed;

/// How long the directory must be quiet before a change counts (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(300);
/// A file open for writing longer than this is taken as it is (a writer that never closes).
const WRITER_PATIENCE: Duration = Duration::from_secs(10);
/// Reads that changed under us before the directory is reported as not settling.
const READ_ATTEMPTS: usize = 20;

/// What the watcher knows of writes in progress.
#[derive(Debug)]
struct Writes {
    /// Files written to and not yet closed, since when.
    open: HashMap<PathBuf, Instant>,
    last_event: Instant,
}

/// Tells when the watched directory is settled.
#[derive(Clone, Debug)]
pub struct Settled(Arc<Mutex<Writes>>);

impl Settled {
    fn new() -> Settled {
        Settled(Arc::new(Mutex::new(Writes {
            open: HashMap::new(),
            last_event: Instant::now() - DEBOUNCE,
        })))
    }

    fn record(&self, event: &notify::Event) {
        let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        writes.last_event = Instant::now();
        writes
            .open
            .retain(|_, since| since.elapsed() < WRITER_PATIENCE);
        for path in &event.paths {
            match event.kind {
                EventKind::Create(CreateKind::File) | EventKind::Modify(ModifyKind::Data(_)) => {
                    writes.open.entry(path.clone()).or_insert_with(Instant::now);
                }
                EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Name(_)) => {
                    writes.open.remove(path);
                }
                _ => {}
            }
        }
    }

    /// How long to wait before the directory may be read; zero when settled.
    fn wait(&self) -> Duration {
        let writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let quiet = DEBOUNCE.saturating_sub(writes.last_event.elapsed());
        let writer = writes
            .open
            .values()
            .map(|since| WRITER_PATIENCE.saturating_sub(since.elapsed()))
            .max()
            .unwrap_or_default();
        quiet.max(writer.min(DEBOUNCE))
    }

    async fn until_settled(&self) {
        loop {
            let wait = self.wait();
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Watches `path`; the receiver gets a message after each settled burst of changes. Keep
/// the watcher alive as long as the receiver is used.
pub fn watch(
    path: &Path,
) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>, Settled)> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel();
    let settled = Settled::new();
    let recorder = settled.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        recorder.record(&event);
        let opened_or_read = matches!(
            event.kind,
            EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Any)
        );
        if !opened_or_read {
            let _ = raw_tx.send(());
        }
    })?;
    watcher.watch(path, RecursiveMode::Recursive)?;
    let (tx, rx) = mpsc::channel(1);
    let waiter = settled.clone();
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Wait for quiet and closed files, taking in the events that keep coming.
            loop {
                waiter.until_settled().await;
                match raw_rx.try_recv() {
                    Ok(()) => continue,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    Ok((watcher, rx, settled))
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: the files kept changing while they were read ({READ_ATTEMPTS} attempts); the last good revision stays in force"
)]
pub struct Unsettled {
    path: String,
}

/// Reads the directory as one consistent revision: once settled, and twice to the same
/// content.
pub async fn read(
    path: &Path,
    settled: Option<&Settled>,
    max_file_size: u64,
) -> Result<Parsed, Unsettled> {
    let paths = [path.to_path_buf()];
    for _ in 0..READ_ATTEMPTS {
        match settled {
            Some(settled) => settled.until_settled().await,
            None => tokio::time::sleep(DEBOUNCE / 3).await,
        }
        let first = files::load(&paths, max_file_size);
        let second = files::load(&paths, max_file_size);
        if first.revision == second.revision {
            return Ok(second);
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
    Err(Unsettled {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::DataChange;

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn a_file_open_for_writing_holds_the_read_until_it_is_closed() {
        let settled = Settled::new();
        assert!(settled.wait().is_zero());
        settled.record(&event(
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            "/d/web.yaml",
        ));
        assert!(!settled.wait().is_zero());
        settled.0.lock().unwrap().last_event -= DEBOUNCE;
        assert!(
            !settled.wait().is_zero(),
            "quiet, but the file is still open"
        );
        settled.record(&event(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/d/web.yaml",
        ));
        settled.0.lock().unwrap().last_event -= DEBOUNCE;
        assert!(settled.wait().is_zero());
    }
}
