//! Files a run is still writing carry its process id; a later run removes those whose process
//! is gone (killed), and never those of a live one.

/// Whether process `pid` no longer exists on this machine. When that cannot be told, the answer
/// is no: a file a live run is writing must never be removed.
pub fn gone(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 checks that the process exists and delivers nothing.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Whether `pid`, written into a file name, names a process that is gone.
pub fn gone_named(pid: &str) -> bool {
    pid.parse::<u32>().is_ok_and(gone)
}

/// This machine's name: a process id means something only on the machine that wrote it.
pub fn host() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer and its length; the name is NUL-terminated when it fits.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_gone_and_a_reaped_one_is() {
        assert!(!gone(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(gone(pid));
        // Never "gone" for what is not a process id (0 would mean our own process group).
        assert!(!gone(0));
        assert!(!gone(u32::MAX));
        assert!(!gone_named("abc"));
        assert!(gone_named(&pid.to_string()));
        assert!(!host().is_empty());
    }
}
