//! The database a migration builds, written around the page cache.
//!
//! A migration writes every page of its new database once (no journal; the file is renamed into
//! place when complete). Written through the page cache, each page costs a kernel copy and a
//! page allocation on the thread that runs SQLite, the busiest of the load: a third of its time
//! on nested data. This VFS shim, used only for that file, holds SQLite's page writes by page
//! number and hands the lowest, in runs of consecutive pages, to a thread of its own that writes
//! them with `O_DIRECT`. Everything else (reads, locks, syncs, the WAL, temporary files) goes to
//! the default VFS unchanged.
//!
//! A read of a page still held is answered from memory, and one of a page on its way after it is
//! written, so SQLite always reads what it wrote. The first write error is kept and returned by every later call,
//! and [`flush`] writes everything out and reports it: a caller flushes before it fsyncs and
//! publishes, since SQLite without a journal commits without asking the file for anything.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CStr, c_int, c_void};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;

use rusqlite::{Connection, ffi};

/// The name to open a database with (`Connection::open_with_flags_and_vfs`).
pub const NAME: &CStr = c"jsonlift-build";

/// A file control of ours, above SQLite's own codes: write out everything held.
const FCNTL_FLUSH: c_int = 0x6a6c_0001;
/// The unit held and written: alignment of buffers, offsets and lengths for direct I/O (the
/// largest logical block size), and SQLite's default page size.
const BLOCK: usize = 4096;
/// Blocks held before the lowest are written (2 MiB).
const WINDOW: usize = 512;
/// Blocks handed to the writer at once (1 MiB).
const BATCH: usize = 256;
/// Batches handed to the writer and not yet back.
const IN_FLIGHT: usize = 2;

/// Bytes written around the page cache since start-up (for tests and curiosity).
static DIRECT_BYTES: AtomicU64 = AtomicU64::new(0);

pub fn direct_bytes() -> u64 {
    DIRECT_BYTES.load(Ordering::Relaxed)
}

/// The default VFS, which does the real work.
static INNER: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// Registers the shim (once; it never becomes the default).
pub fn register() -> rusqlite::Result<()> {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLite's documented VFS API. The struct is leaked: SQLite keeps the pointer
        // for the life of the process.
        unsafe {
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
                return;
            }
            let inner = ffi::sqlite3_vfs_find(ptr::null());
            if inner.is_null() {
                return;
            }
            // Every method but xOpen is the default's own: they take the VFS only for the
            // fields copied here (pAppData, mxPathname).
            let mut vfs = *inner;
            vfs.pNext = ptr::null_mut();
            vfs.zName = NAME.as_ptr();
            vfs.szOsFile = (INNER_AT + (*inner).szOsFile as usize) as c_int;
            vfs.xOpen = Some(x_open);
            INNER.store(inner, Ordering::Release);
            ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0);
        }
    });
    if INNER.load(Ordering::Acquire).is_null() {
        return Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_ERROR),
            Some("no default SQLite VFS to build on".into()),
        ));
    }
    Ok(())
}

/// Writes out every page held for the connection's main database and reports the first write
/// error, if any. A connection on another VFS has nothing held.
pub fn flush(conn: &Connection) -> rusqlite::Result<()> {
    // SAFETY: a live connection handle; the op takes no argument.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            FCNTL_FLUSH,
            ptr::null_mut(),
        )
    };
    match rc {
        ffi::SQLITE_OK | ffi::SQLITE_NOTFOUND => Ok(()),
        rc => Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some(match rc {
                ffi::SQLITE_FULL => "the disk is full (or the file-size limit reached) while writing the new database: free space and run again".into(),
                _ => "writing the new database to disk failed".into(),
            }),
        )),
    }
}

/// Our file: SQLite's header, the write-behind state (null: everything passes through), then
/// the default VFS's own file.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
    held: *mut Held,
}

const INNER_AT: usize = std::mem::size_of::<ShimFile>().next_multiple_of(16);

unsafe fn inner(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: szOsFile reserves INNER_AT bytes before the default VFS's file.
    unsafe { f.cast::<u8>().add(INNER_AT).cast() }
}

unsafe fn io(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: the inner file opened successfully (or ours would have no methods).
    unsafe { &*(*inner(f)).pMethods }
}

unsafe fn held<'a>(f: *mut ffi::sqlite3_file) -> Option<&'a mut Held> {
    // SAFETY: set by x_open, freed only by x_close; SQLite calls a file from one thread at a time.
    unsafe { (*f.cast::<ShimFile>()).held.as_mut() }
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let shim = f.cast::<ShimFile>();
        (*shim).base.pMethods = ptr::null();
        (*shim).held = ptr::null_mut();
        let vfs = INNER.load(Ordering::Acquire);
        let rc = ((*vfs).xOpen.expect("xOpen"))(vfs, name, inner(f), flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        (*shim).base.pMethods = &METHODS;
        let main_rw = ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_READWRITE;
        if flags & main_rw == main_rw && !name.is_null() {
            let path = Path::new(std::ffi::OsStr::from_bytes(CStr::from_ptr(name).to_bytes()));
            if let Some(h) = Held::open(path) {
                (*shim).held = Box::into_raw(Box::new(h));
            }
        }
        rc
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

/// Runs the default's method, after writing out what is held (the method reads the file or
/// depends on its size).
macro_rules! after_flush {
    ($f:expr, $call:expr) => {{
        if let Some(h) = held($f) {
            if let Err(rc) = h.drain() {
                return rc;
            }
        }
        $call
    }};
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let shim = f.cast::<ShimFile>();
        let mut rc = ffi::SQLITE_OK;
        if !(*shim).held.is_null() {
            let mut h = Box::from_raw((*shim).held);
            (*shim).held = ptr::null_mut();
            rc = h.close();
        }
        let inner_rc = (io(f).xClose.expect("xClose"))(inner(f));
        if rc == ffi::SQLITE_OK { inner_rc } else { rc }
    }
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        if let Some(h) = held(f) {
            let out = std::slice::from_raw_parts_mut(buf.cast::<u8>(), amt as usize);
            match h.read(out, off as u64) {
                Ok(true) => return ffi::SQLITE_OK,
                Ok(false) => {}
                Err(rc) => return rc,
            }
        }
        (io(f).xRead.expect("xRead"))(inner(f), buf, amt, off)
    }
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        if let Some(h) = held(f) {
            let data = std::slice::from_raw_parts(buf.cast::<u8>(), amt as usize);
            if whole_blocks(data.len(), off as u64) {
                return match h.write(data, off as u64) {
                    Ok(()) => ffi::SQLITE_OK,
                    Err(rc) => rc,
                };
            }
            // Not a page on block boundaries: written the ordinary way, after what is held.
            if let Err(rc) = h.drain() {
                return rc;
            }
        }
        (io(f).xWrite.expect("xWrite"))(inner(f), buf, amt, off)
    }
}

fn whole_blocks(len: usize, off: u64) -> bool {
    len > 0 && len.is_multiple_of(BLOCK) && off.is_multiple_of(BLOCK as u64)
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    unsafe { after_flush!(f, (io(f).xTruncate.expect("xTruncate"))(inner(f), size)) }
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { after_flush!(f, (io(f).xSync.expect("xSync"))(inner(f), flags)) }
}

unsafe extern "C" fn x_file_size(
    f: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    unsafe { after_flush!(f, (io(f).xFileSize.expect("xFileSize"))(inner(f), size)) }
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { (io(f).xLock.expect("xLock"))(inner(f), level) }
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { (io(f).xUnlock.expect("xUnlock"))(inner(f), level) }
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe { (io(f).xCheckReservedLock.expect("xCheckReservedLock"))(inner(f), out) }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe {
        if op == FCNTL_FLUSH {
            return match held(f) {
                Some(h) => h.drain().err().unwrap_or(ffi::SQLITE_OK),
                None => ffi::SQLITE_OK,
            };
        }
        (io(f).xFileControl.expect("xFileControl"))(inner(f), op, arg)
    }
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe { (io(f).xSectorSize.expect("xSectorSize"))(inner(f)) }
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        (io(f)
            .xDeviceCharacteristics
            .expect("xDeviceCharacteristics"))(inner(f))
    }
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        match io(f).xShmMap {
            Some(m) => m(inner(f), region, size, extend, out),
            None => ffi::SQLITE_IOERR_SHMMAP,
        }
    }
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    unsafe {
        match io(f).xShmLock {
            Some(m) => m(inner(f), off, n, flags),
            None => ffi::SQLITE_IOERR_SHMLOCK,
        }
    }
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    unsafe {
        if let Some(m) = io(f).xShmBarrier {
            m(inner(f))
        }
    }
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe {
        match io(f).xShmUnmap {
            Some(m) => m(inner(f), delete),
            None => ffi::SQLITE_OK,
        }
    }
}

unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    off: ffi::sqlite3_int64,
    amt: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        match (held(f), io(f).xFetch) {
            // Memory-mapped pages could be older than the pages held: SQLite reads instead.
            (None, Some(m)) => m(inner(f), off, amt, out),
            _ => {
                *out = ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn x_unfetch(
    f: *mut ffi::sqlite3_file,
    off: ffi::sqlite3_int64,
    p: *mut c_void,
) -> c_int {
    unsafe {
        match io(f).xUnfetch {
            Some(m) => m(inner(f), off, p),
            None => ffi::SQLITE_OK,
        }
    }
}

/// A block of the file, aligned for direct I/O.
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

fn block() -> Box<Block> {
    Box::new(Block([0; BLOCK]))
}

/// Blocks for the writer: `(first block number, blocks)` for each run of consecutive ones.
struct Batch {
    runs: Vec<(u64, Vec<Box<Block>>)>,
    error: Option<io::Error>,
}

impl Batch {
    fn span(&self) -> Vec<(u64, u64)> {
        self.runs
            .iter()
            .map(|(n, b)| (*n, *n + b.len() as u64))
            .collect()
    }
}

/// Pages written by SQLite and not yet on disk, and the thread that writes them.
///
/// SQLite writes nearly every page of a new database once, in nearly ascending order: some
/// pages stay in its cache longer and come later. Blocks are held by number until
/// [`WINDOW`] of them are, and the lowest go to the writer, by then mostly in long runs.
struct Held {
    held: BTreeMap<u64, Box<Block>>,
    spare: Vec<Box<Block>>,
    to_writer: Option<SyncSender<Batch>>,
    back: Receiver<Batch>,
    /// The block ranges of each batch handed over and not back, oldest first.
    out: VecDeque<Vec<(u64, u64)>>,
    /// The SQLite code of the first write error: every later call returns it.
    failed: Option<c_int>,
    writer: Option<JoinHandle<()>>,
}

impl Held {
    /// `None` where direct I/O cannot be had (the file then goes through the default VFS).
    fn open(path: &Path) -> Option<Held> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let direct = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .ok()?;
            let plain = std::fs::OpenOptions::new().write(true).open(path).ok()?;
            Held::with(direct, plain)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = path;
            None
        }
    }

    fn with(direct: File, plain: File) -> Option<Held> {
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (done, back) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let writer = std::thread::Builder::new()
            .name("jsonlift-dbwrite".into())
            .spawn(move || {
                let mut direct = Some(direct);
                let mut failed = false;
                for mut batch in batches {
                    for (n, blocks) in &batch.runs {
                        if failed {
                            break;
                        }
                        let offset = n * BLOCK as u64;
                        if let Err(e) = write_run(&mut direct, &plain, offset, blocks) {
                            batch.error = Some(e);
                            failed = true;
                        }
                    }
                    if failed && batch.error.is_none() {
                        batch.error = Some(io::Error::other("an earlier write failed"));
                    }
                    if done.send(batch).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Held {
            held: BTreeMap::new(),
            spare: Vec::new(),
            to_writer: Some(to_writer),
            back,
            out: VecDeque::new(),
            failed: None,
            writer: Some(writer),
        })
    }

    /// Holds whole blocks written at a block boundary.
    fn write(&mut self, data: &[u8], offset: u64) -> Result<(), c_int> {
        if let Some(rc) = self.failed {
            return Err(rc);
        }
        let first = offset / BLOCK as u64;
        for (i, bytes) in data.chunks_exact(BLOCK).enumerate() {
            let n = first + i as u64;
            match self.held.get_mut(&n) {
                Some(b) => b.0.copy_from_slice(bytes),
                None => {
                    let mut b = self.spare.pop().unwrap_or_else(block);
                    b.0.copy_from_slice(bytes);
                    self.held.insert(n, b);
                }
            }
        }
        while self.held.len() >= WINDOW {
            self.send()?;
        }
        Ok(())
    }

    /// Answers a read from the blocks held when they have it all (`true`); writes everything out
    /// first when it touches blocks on their way (`false`: read the file).
    fn read(&mut self, out: &mut [u8], offset: u64) -> Result<bool, c_int> {
        if out.is_empty() {
            return Ok(false);
        }
        let (first, last) = (
            offset / BLOCK as u64,
            (offset + out.len() as u64 - 1) / BLOCK as u64,
        );
        let held = self.held.range(first..=last).count() as u64;
        if held == last - first + 1 {
            let mut at = 0;
            let mut pos = offset;
            while at < out.len() {
                let (n, within) = (pos / BLOCK as u64, (pos % BLOCK as u64) as usize);
                let k = (BLOCK - within).min(out.len() - at);
                out[at..at + k].copy_from_slice(&self.held[&n].0[within..within + k]);
                at += k;
                pos += k as u64;
            }
            return Ok(true);
        }
        let want = (first, last + 1);
        if held > 0 || self.out.iter().flatten().any(|&r| overlaps(want, r)) {
            self.drain()?;
        }
        Ok(false)
    }

    /// Hands the lowest blocks held (up to a batch) to the writer, waiting for a batch to come
    /// back when enough are on their way.
    fn send(&mut self) -> Result<(), c_int> {
        if self.out.len() >= IN_FLIGHT {
            self.take_back()?;
        }
        let mut runs: Vec<(u64, Vec<Box<Block>>)> = Vec::new();
        for _ in 0..BATCH {
            let Some((n, b)) = self.held.pop_first() else {
                break;
            };
            match runs.last_mut() {
                Some((first, blocks)) if *first + blocks.len() as u64 == n => blocks.push(b),
                _ => runs.push((n, vec![b])),
            }
        }
        let batch = Batch { runs, error: None };
        let span = batch.span();
        let sent = self
            .to_writer
            .as_ref()
            .is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            return Err(*self.failed.get_or_insert(ffi::SQLITE_IOERR_WRITE));
        }
        self.out.push_back(span);
        Ok(())
    }

    fn take_back(&mut self) -> Result<(), c_int> {
        // A write the disk takes long over is said, not waited on in silence (it cannot be
        // given up: SQLite must have the page on disk).
        let started = std::time::Instant::now();
        let received = loop {
            match self.back.recv_timeout(crate::writeback::SLOW) {
                Err(RecvTimeoutError::Timeout) => {
                    crate::writeback::slow("writing the new database", started.elapsed())
                }
                other => break other.ok(),
            }
        };
        let Some(mut batch) = received else {
            self.out.clear();
            return Err(*self.failed.get_or_insert(ffi::SQLITE_IOERR_WRITE));
        };
        self.out.pop_front();
        if let Some(e) = batch.error.take() {
            self.failed.get_or_insert(code(&e));
        }
        for (_, blocks) in batch.runs {
            self.spare.extend(blocks);
        }
        // Enough to refill a window; the rest is given back to the allocator.
        self.spare.truncate(WINDOW);
        self.failed.map_or(Ok(()), Err)
    }

    /// Writes out everything held and waits for it.
    fn drain(&mut self) -> Result<(), c_int> {
        while !self.held.is_empty() && self.failed.is_none() {
            self.send()?;
        }
        while !self.out.is_empty() {
            // Keep receiving after an error: every batch must be back before we return.
            let _ = self.take_back();
        }
        self.failed.map_or(Ok(()), Err)
    }

    fn close(&mut self) -> c_int {
        let rc = self.drain().err().unwrap_or(ffi::SQLITE_OK);
        self.to_writer = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        rc
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.close();
        }
    }
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Writes consecutive blocks at `offset`, directly while the file system allows it; a refusal (`EINVAL`: it does not take these alignments) turns direct writing off for
/// good, and the ordinary way reports any real error (a full disk) as it is.
fn write_run(
    direct: &mut Option<File>,
    plain: &File,
    offset: u64,
    blocks: &[Box<Block>],
) -> io::Result<()> {
    if let Some(d) = direct {
        match write_blocks(d, offset, blocks) {
            Ok(()) => {
                DIRECT_BYTES.fetch_add((blocks.len() * BLOCK) as u64, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => *direct = None,
            Err(e) => return Err(e),
        }
    }
    write_blocks(plain, offset, blocks)
}

/// One `pwritev` for the run (more if the kernel takes part of it).
fn write_blocks(file: &File, mut offset: u64, blocks: &[Box<Block>]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut iov: Vec<libc::iovec> = blocks
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.0.as_ptr() as *mut c_void,
            iov_len: BLOCK,
        })
        .collect();
    let mut rest = &mut iov[..];
    while !rest.is_empty() {
        let count = rest.len().min(1024) as c_int; // IOV_MAX
        // SAFETY: the iovecs point into blocks borrowed for the call.
        let n = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                rest.as_ptr(),
                count,
                offset as libc::off_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut n = n as usize;
        offset += n as u64;
        while n > 0 {
            let first = &mut rest[0];
            if n >= first.iov_len {
                n -= first.iov_len;
                rest = &mut rest[1..];
            } else {
                // SAFETY: within the same block.
                first.iov_base = unsafe { first.iov_base.cast::<u8>().add(n) }.cast();
                first.iov_len -= n;
                n = 0;
            }
        }
    }
    Ok(())
}

/// SQLite's code for a write error, as its own unix VFS would give it.
fn code(e: &io::Error) -> c_int {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => ffi::SQLITE_FULL,
        _ => ffi::SQLITE_IOERR_WRITE,
    }
}

#[cfg(test)]
#[path = "vfs_tests.rs"]
mod tests;
