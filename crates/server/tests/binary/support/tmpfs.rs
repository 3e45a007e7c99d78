//! A small filesystem of its own, to fill up: a tmpfs of a fixed size mounted on a temporary
//! directory (root only), unmounted when dropped, even by a failing test.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct Tmpfs {
    dir: TempDir,
}

/// What the filler writes at a time; the last bytes go one page at a time.
const CHUNK: usize = 64 * 1024;
const PAGE: usize = 4 * 1024;

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it: `16m`).
    pub fn mount(size: &str) -> Self {
        assert!(
            super::cluster::running_as_root(),
            "this test mounts a small tmpfs to fill it up, which needs root"
        );
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(mounted.status.success(), "mount: {mounted:?}");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file that takes every byte left (until the write fails with "no space"), and
    /// returns its path: deleting it gives the space back.
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [CHUNK, PAGE] {
            let bytes = vec![0_u8; chunk];
            loop {
                match file.write_all(&bytes) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(error) => panic!("filling {}: {error}", path.display()),
                }
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the server under test may still be closing its files.
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(self.path())
            .status();
    }
}
