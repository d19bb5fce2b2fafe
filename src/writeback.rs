//! Getting large files to disk while they are written, not all at once when they are fsynced.
//!
//! The kernel keeps written pages in memory for up to 30 s (or until a tenth of RAM is dirty),
//! so a migration that writes a gigabyte and then calls fsync waits for the whole gigabyte at
//! the end, while the disk sat idle during the load. Asking for writeback as the file grows
//! (what RocksDB calls `bytes_per_sync`) keeps the disk busy alongside the CPU; the fsync that
//! makes the file durable is still what the guarantees rest on.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How much new data is worth a writeback request.
pub const STEP: u64 = 16 << 20;

/// Starts writing `len` bytes of `file` from `offset` to disk, without waiting for it.
pub fn start(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // Advisory: an error (an old kernel, a file system without it) changes nothing.
        // SAFETY: a valid open descriptor; the call reads no memory of ours.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Watches a file another party is writing (the database SQLite is building) and starts the
/// writeback of what it has added, every [`STEP`] bytes, until dropped.
pub struct Behind {
    stop: Arc<AtomicBool>,
    /// Bytes whose writeback has been requested.
    requested: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Behind {
    pub fn start(path: &Path) -> Behind {
        let stop = Arc::new(AtomicBool::new(false));
        let requested = Arc::new(AtomicU64::new(0));
        let thread = File::open(path).ok().and_then(|file| {
            let (stop, requested) = (stop.clone(), requested.clone());
            std::thread::Builder::new()
                .name("jsonlift-writeback".into())
                .spawn(move || {
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                        let len = file.metadata().map(|m| m.len()).unwrap_or(done);
                        if len >= done + STEP {
                            start(&file, done, len - done);
                            done = len;
                            requested.store(done, Ordering::Relaxed);
                        }
                    }
                })
                .ok()
        });
        Behind {
            stop,
            requested,
            thread,
        }
    }

    pub fn requested(&self) -> u64 {
        self.requested.load(Ordering::Relaxed)
    }
}

impl Drop for Behind {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long a wait on the disk may last before it is reported (and again after each as long).
pub const SLOW: Duration = Duration::from_secs(10);

/// Reports a wait on the disk that lasts: after [`SLOW`], then every [`SLOW`] until dropped, a
/// warning says what is waited for, for how long, and how much the whole machine has waiting
/// to be written. The wait itself cannot be cut short (the data must be on disk before the
/// migration is published); what makes it long is mostly other programs' writes queued before
/// ours (the kernel lets a fifth of the memory fill with them before it throttles anyone).
pub struct Watch {
    done: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// Starts watching a wait described by `what` ("fsync of the new database").
pub fn watch(what: &str) -> Watch {
    let done = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let what = what.to_string();
    let thread = {
        let done = done.clone();
        std::thread::Builder::new()
            .name("jsonlift-disk-watch".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let (lock, cvar) = &*done;
                let mut finished = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*finished {
                    let (f, timeout) = cvar
                        .wait_timeout(finished, SLOW)
                        .unwrap_or_else(|e| e.into_inner());
                    finished = f;
                    if timeout.timed_out() && !*finished {
                        slow(&what, started.elapsed());
                    }
                }
            })
            .ok()
    };
    Watch { done, thread }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The warning for a wait on the disk of `waited` so far.
pub fn slow(what: &str, waited: Duration) {
    let pending = match pending_writes() {
        Some(mb) => format!("; {mb} MB of writes are waiting for the disk on this machine"),
        None => String::new(),
    };
    tracing::warn!(
        "{what}: waiting for the disk for {} s{pending}",
        waited.as_secs()
    );
}

/// Dirty and under-writeback memory, machine-wide, in MB (Linux).
fn pending_writes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((kb("Dirty:")? + kb("Writeback:")?) / 1024)
}

/// Writes a new file around the page cache (`O_DIRECT`) where the file system allows it. A
/// backup copy is not read again soon; written through the cache, a gigabyte of source costs a
/// gigabyte of kernel copying and page allocation, on a machine whose cores are busy loading.
/// Anything refused (a file system without direct I/O) goes through `file`, the ordinary
/// handle, as does the unaligned tail.
pub struct Unbuffered<'f> {
    file: &'f File,
    direct: Option<File>,
    /// A block-aligned window of `space`, where the bytes are staged.
    space: Vec<u8>,
    at: usize,
    staged: usize,
    /// File offset of the first staged byte.
    offset: u64,
}

/// Alignment of buffers, offsets and lengths for direct I/O (the largest logical block size).
const ALIGN: usize = 4096;
const STAGE: usize = 1 << 20;

impl<'f> Unbuffered<'f> {
    /// Writes the empty file `path`, already open as `file`.
    pub fn new(path: &Path, file: &'f File) -> Unbuffered<'f> {
        #[cfg(target_os = "linux")]
        let direct = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .ok()
        };
        #[cfg(not(target_os = "linux"))]
        let direct = {
            let _ = path;
            None
        };
        let space = vec![0u8; STAGE + ALIGN];
        let at = space.as_ptr().align_offset(ALIGN);
        Unbuffered {
            file,
            direct,
            space,
            at,
            staged: 0,
            offset: 0,
        }
    }

    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = data.len().min(STAGE - self.staged);
            let to = self.at + self.staged;
            self.space[to..to + n].copy_from_slice(&data[..n]);
            self.staged += n;
            data = &data[n..];
            if self.staged == STAGE {
                self.put(STAGE)?;
            }
        }
        Ok(())
    }

    /// Writes what is staged; the file is complete (not yet fsynced).
    pub fn finish(mut self) -> io::Result<()> {
        let aligned = self.staged / ALIGN * ALIGN;
        if aligned > 0 {
            self.put(aligned)?;
        }
        let tail = &self.space[self.at..self.at + self.staged];
        self.file.write_all_at(tail, self.offset)
    }

    /// Writes the first `n` staged bytes (a multiple of [`ALIGN`]) and keeps the rest staged.
    fn put(&mut self, n: usize) -> io::Result<()> {
        let block = &self.space[self.at..self.at + n];
        let direct = match &self.direct {
            Some(d) => d.write_all_at(block, self.offset).is_ok(),
            None => false,
        };
        if !direct {
            // Refused (or failed part way): from here on, the ordinary way, which reports any
            // real error (a full disk) as it is.
            self.direct = None;
            self.file.write_all_at(block, self.offset)?;
        }
        self.offset += n as u64;
        self.space
            .copy_within(self.at + n..self.at + self.staged, self.at);
        self.staged -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn machine_wide_pending_writes_are_read_from_meminfo() {
        // Linux reports them; the warning names them when it can.
        if cfg!(target_os = "linux") {
            assert!(pending_writes().is_some());
        }
        // A watch that ends at once is gone with it (its thread joined, not left waiting).
        drop(watch("nothing"));
    }

    #[test]
    fn writeback_follows_a_growing_file_and_leaves_it_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut f = File::create(&path).unwrap();
        let behind = Behind::start(&path);
        let block = vec![7u8; 1 << 20];
        for _ in 0..(STEP >> 20) - 1 {
            f.write_all(&block).unwrap();
        }
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(behind.requested(), 0, "less than a step is left alone");
        for _ in 0..(STEP >> 20) + 1 {
            f.write_all(&block).unwrap();
        }
        // Once a step has been added, what was written by then is handed to the disk.
        for _ in 0..100 {
            if behind.requested() >= STEP {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let requested = behind.requested();
        assert!((STEP..=2 * STEP).contains(&requested), "{requested}");
        drop(behind);
        f.sync_all().unwrap();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len() as u64, 2 * STEP);
        assert!(data.iter().all(|&b| b == 7));
    }

    #[test]
    fn an_unbuffered_copy_holds_every_byte_whatever_the_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * STAGE + 12345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        for (len, chunk) in [
            (0, 1),
            (1, 1),
            (ALIGN, 7),
            (STAGE + 1, 4096),
            (data.len(), 99_999),
        ] {
            let path = dir.path().join(format!("copy-{len}-{chunk}"));
            let file = File::create_new(&path).unwrap();
            let mut w = Unbuffered::new(&path, &file);
            for part in data[..len].chunks(chunk) {
                w.write(part).unwrap();
            }
            w.finish().unwrap();
            file.sync_all().unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                &data[..len],
                "{len} by {chunk}"
            );
        }
    }
}
