//! A source file's backup copy feeding the migration's reader while it is being written.
//!
//! Copying a large source, hashing it and fsyncing the copy before loading it leaves one core
//! idle and the disk busy while nothing else happens. Instead the copying thread hands every
//! block it has hashed and written to the reader ([`Tap`] → [`Feed`]): the reader parses exactly
//! the bytes in the copy (the same guarantee as reading the copy afterwards) while the copy's
//! fsync runs beside the load.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Blocks in flight between the copying thread and the reader: bounds memory to a few MiB.
const IN_FLIGHT: usize = 8;

/// The copying thread's end.
pub struct Tap {
    tx: SyncSender<io::Result<Vec<u8>>>,
    spent: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
}

/// The reader's end: the bytes of the copy, in order; an error if the copy fails.
pub struct Feed {
    rx: Receiver<io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

/// A connected pair. Setting `stop` asks the copy to give up (the migration has failed).
pub fn tee(stop: &Arc<AtomicBool>) -> (Tap, Feed) {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let (spent_tx, spent) = sync_channel(IN_FLIGHT + 2);
    (
        Tap {
            tx,
            spent,
            stop: stop.clone(),
        },
        Feed {
            rx,
            spent: spent_tx,
            cur: Vec::new(),
            pos: 0,
            done: false,
        },
    )
}

impl Tap {
    /// A buffer of `size` bytes to read the next block into (one the reader is done with, when
    /// there is one: no fresh pages to fault in for every block).
    pub fn buffer(&self, size: usize) -> Vec<u8> {
        let mut b = self.spent.try_recv().unwrap_or_default();
        b.resize(size, 0);
        b
    }
    /// Hands over a block already written to the copy; false once the reader has gone (it
    /// stopped early: the copy is still completed, unless [`Tap::stopped`]).
    pub fn send(&self, block: Vec<u8>) -> bool {
        let mut block = Ok(block);
        loop {
            match self.tx.try_send(block) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                // The reader is behind; wait for it, unless the migration has given up (it may
                // hold a reader it will never read).
                Err(TrySendError::Full(b)) if !self.stopped() => {
                    block = b;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    /// Tells the reader the copy is complete.
    pub fn finish(self) {
        let _ = self.tx.send(Ok(Vec::new()));
    }
    /// Tells the reader the copy failed.
    pub fn fail(self, message: String) {
        let _ = self.tx.send(Err(io::Error::other(message)));
    }
}

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(block)) if block.is_empty() => self.done = true,
                Ok(Ok(block)) => {
                    let old = std::mem::replace(&mut self.cur, block);
                    self.pos = 0;
                    let _ = self.spent.try_send(old);
                }
                Ok(Err(e)) => return Err(e),
                // The copying thread ended without saying the copy was complete.
                Err(_) => {
                    return Err(io::Error::other(
                        "the backup copy of the source stopped before its end",
                    ));
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_gets_every_block_in_order_then_the_end() {
        let (tap, mut feed) = tee(&Arc::default());
        let writer = std::thread::spawn(move || {
            for i in 0..100u8 {
                let mut b = tap.buffer(1000);
                b.fill(i);
                assert!(tap.send(b));
            }
            tap.finish();
        });
        let mut all = Vec::new();
        feed.read_to_end(&mut all).unwrap();
        writer.join().unwrap();
        assert_eq!(all.len(), 100_000);
        assert!(
            all.chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
    }

    #[test]
    fn a_failed_copy_is_an_error_not_an_end() {
        let (tap, mut feed) = tee(&Arc::default());
        assert!(tap.send(b"[1,".to_vec()));
        tap.fail("disk full".into());
        let mut all = Vec::new();
        let e = feed.read_to_end(&mut all).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");

        // A copying thread that stops without finishing is not a complete file either.
        let (tap, mut feed) = tee(&Arc::default());
        assert!(tap.send(b"[1]".to_vec()));
        drop(tap);
        let e = feed.read_to_end(&mut all).unwrap_err();
        assert!(e.to_string().contains("stopped before its end"), "{e}");
    }

    #[test]
    fn the_copy_learns_when_the_reader_is_gone() {
        let (tap, feed) = tee(&Arc::default());
        drop(feed);
        assert!(!tap.send(vec![1]));
    }
}
