//! What the server asks of the files it keeps beside itself (master key,
//! config, SQLite database): whether other users of the host may touch them.

use std::path::Path;

/// The permission bits of `path` when any of `mask` is set (e.g. `0o044`:
/// group or others may read), for a warning that names the mode; `None`
/// otherwise, or where it cannot be told (no such file, not Unix).
pub fn open_to_others(path: &Path, mask: u32) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & mask != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mask);
        None
    }
}
