//! `file://` URLs, confined to one folder: the file root.
//!
//! Every call here blocks (it asks the file system); the downloader makes them on the
//! `BlockingIo` deployment's threads, never on the server's async workers.
//!
//! What is left: a folder inside the root swapped for a symbolic link between the check and
//! the open could still lead outside it (closing that needs `openat2` with
//! `RESOLVE_BENEATH`, which std does not offer), so people who must not read outside the
//! root must not be able to write inside it.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::error::{DownloadError, Quoted, SettingsError};

/// The folder `file://` URLs read from unless [`FILE_ROOT_VAR`] names another: the
/// example's own images.
pub const DEFAULT_FILE_ROOT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/content_understanding/images");

/// The environment variable that names the file root, read when the downloader is built.
pub const FILE_ROOT_VAR: &str = "CONTENT_FILE_ROOT";

/// The folder the binary's `--file-root` named, set once before the graph starts.
static FROM_FLAG: OnceLock<FileRoot> = OnceLock::new();

/// The folder `file://` URLs are confined to, with its symbolic links resolved.
#[derive(Clone, Debug)]
pub struct FileRoot {
    dir: Arc<Path>,
}

impl FileRoot {
    /// `dir`, which must be a folder.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = std::fs::canonicalize(dir)?;
        if !std::fs::metadata(&dir)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
        }
        Ok(FileRoot { dir: dir.into() })
    }

    /// Makes `dir` the root of every downloader built from now on in this process (the
    /// binary's `--file-root`, which wins over [`FILE_ROOT_VAR`]); it must be a folder.
    #[allow(
        dead_code,
        reason = "the example's binary calls it; the tests and the baseline compile the pipeline without it"
    )]
    pub fn set_from_flag(dir: &Path) -> Result<(), SettingsError> {
        let root = FileRoot::new(dir).map_err(|source| SettingsError::Root {
            var: "--file-root",
            dir: dir.display().to_string(),
            source,
        })?;
        // Set once, by `main`, before any downloader is built.
        let _ = FROM_FLAG.set(root);
        Ok(())
    }

    /// The folder `--file-root` named, else the one [`FILE_ROOT_VAR`] names, else
    /// [`DEFAULT_FILE_ROOT`].
    pub fn configured() -> Result<Self, SettingsError> {
        if let Some(root) = FROM_FLAG.get() {
            return Ok(root.clone());
        }
        let dir = std::env::var_os(FILE_ROOT_VAR)
            .map_or_else(|| PathBuf::from(DEFAULT_FILE_ROOT), PathBuf::from);
        FileRoot::new(&dir).map_err(|source| SettingsError::Root {
            var: FILE_ROOT_VAR,
            dir: dir.display().to_string(),
            source,
        })
    }

    /// The bytes of the regular file at `path`, which must lie in the root once symbolic
    /// links are followed, and hold at most `limit` bytes.
    pub fn read(&self, path: &str, limit: u64) -> Result<Bytes, DownloadError> {
        let real = self.locate(path)?;
        let unreadable = |source| DownloadError::File {
            path: Quoted::new(path),
            source,
        };
        // Checked before opening: opening a FIFO waits for a writer, and a device may never
        // answer a read.
        let metadata = std::fs::metadata(&real).map_err(unreadable)?;
        check(&metadata, path, limit)?;
        let file = open_nonblocking(&real).map_err(unreadable)?;
        // And again on what was opened, in case the file was replaced in between.
        check(&file.metadata().map_err(unreadable)?, path, limit)?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        // One byte past the limit tells a file that grew since from one at the limit.
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > limit {
            return Err(too_large(path, limit));
        }
        Ok(bytes.into())
    }

    /// `path` with its symbolic links resolved, if that lies in the root. Anything else is
    /// `OutsideRoot`, whether it exists or not, so answers say nothing about what exists
    /// outside; inside, a missing file is "not found".
    fn locate(&self, path: &str) -> Result<PathBuf, DownloadError> {
        let outside = || DownloadError::OutsideRoot(Quoted::new(path));
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.dir) => Ok(real),
            Ok(_) => Err(outside()),
            Err(source) if self.would_hold(Path::new(path)) => Err(DownloadError::File {
                path: Quoted::new(path),
                source,
            }),
            Err(_) => Err(outside()),
        }
    }

    /// Whether a path that cannot be resolved would lie in the root: the nearest part of
    /// it that exists (itself, a dangling link, or a folder above it) must resolve into
    /// the root. A dangling link resolves nowhere, so where it points is not revealed.
    fn would_hold(&self, path: &Path) -> bool {
        path.ancestors()
            .find(|part| std::fs::symlink_metadata(part).is_ok())
            .and_then(|part| std::fs::canonicalize(part).ok())
            .is_some_and(|real| real.starts_with(&self.dir))
    }
}

/// A regular file of at most `limit` bytes, from its metadata alone.
fn check(metadata: &Metadata, path: &str, limit: u64) -> Result<(), DownloadError> {
    if !metadata.is_file() {
        return Err(DownloadError::NotAFile(Quoted::new(path)));
    }
    if metadata.len() > limit {
        return Err(too_large(path, limit));
    }
    Ok(())
}

fn too_large(path: &str, limit: u64) -> DownloadError {
    DownloadError::TooLarge {
        what: Quoted::new(path),
        limit,
    }
}

/// Opens for reading with `O_NONBLOCK`, so that even a FIFO or device put in place after
/// the metadata check cannot make the open wait (reads of regular files are unaffected).
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A fresh folder under the system's temporary one, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "content-understanding-files-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).to_str().unwrap().to_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A root with `leaf.png` in it, and a folder beside it with `secret.png`.
    fn root_and_outside(name: &str) -> (TempDir, FileRoot, TempDir) {
        let dir = TempDir::new(&format!("{name}-root"));
        std::fs::write(dir.path("leaf.png"), b"leaf").unwrap();
        let outside = TempDir::new(&format!("{name}-outside"));
        std::fs::write(outside.path("secret.png"), b"secret").unwrap();
        let root = FileRoot::new(&dir.0).unwrap();
        (dir, root, outside)
    }

    #[test]
    fn reads_regular_files_in_the_root() {
        let (dir, root, _outside) = root_and_outside("reads");
        assert_eq!(&root.read(&dir.path("leaf.png"), 100).unwrap()[..], b"leaf");
        std::fs::create_dir(dir.path("sub")).unwrap();
        let through_dots = format!("{}/sub/../leaf.png", dir.0.display());
        assert_eq!(&root.read(&through_dots, 100).unwrap()[..], b"leaf");
        let err = root.read(&dir.path("missing.png"), 100).unwrap_err();
        assert!(
            err.to_string().contains("No such file or directory"),
            "inside the root, a missing file can be named: {err}"
        );
        // Through a folder that does not exist, nothing is found whatever follows.
        let through_missing = format!("{}/missing/../../x.png", dir.0.display());
        let err = root.read(&through_missing, 100).unwrap_err();
        assert!(matches!(err, DownloadError::File { .. }), "{err}");
    }

    #[test]
    fn nothing_outside_the_root_is_read_or_revealed() {
        let (dir, root, outside) = root_and_outside("outside");
        symlink(outside.path("secret.png"), dir.path("link.png")).unwrap();
        symlink(outside.path("missing.png"), dir.path("dangling.png")).unwrap();
        symlink(&outside.0, dir.path("door")).unwrap();
        let escapes = [
            outside.path("secret.png"),
            outside.path("missing.png"),
            format!(
                "{}/../{}/secret.png",
                dir.0.display(),
                outside.0.file_name().unwrap().to_str().unwrap()
            ),
            format!("{}/../no-such-folder/x.png", dir.0.display()),
            dir.path("link.png"),
            dir.path("dangling.png"),
            format!("{}/secret.png", dir.path("door")),
            format!("{}/missing.png", dir.path("door")),
            "/".to_owned(),
        ];
        for path in escapes {
            let err = root.read(&path, 100).unwrap_err();
            // One message whether or not the file exists.
            assert_eq!(
                err.to_string(),
                format!(
                    "`{}` is outside the folder this server reads files from",
                    Quoted::new(&path)
                ),
            );
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (dir, root, _outside) = root_and_outside("fifo");
        let fifo = dir.path("pipe.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo");
        // Opening a FIFO for reading waits for a writer: run it where a hang is caught.
        let (done, result) = mpsc::channel();
        let reader = root.clone();
        std::thread::spawn(move || {
            let _ = done.send(reader.read(&fifo, 100).map(|_| ()));
        });
        let err = result
            .recv_timeout(Duration::from_secs(5))
            .expect("reading a FIFO returned within 5 s")
            .unwrap_err();
        assert!(matches!(err, DownloadError::NotAFile(_)), "{err}");
        let folder = root.read(dir.0.to_str().unwrap(), 100).unwrap_err();
        assert!(matches!(folder, DownloadError::NotAFile(_)), "{folder}");
    }

    #[test]
    fn the_size_is_checked_from_the_metadata() {
        let (dir, root, _outside) = root_and_outside("size");
        let big = dir.path("big.png");
        // Sparse: a terabyte that takes no space, and would take hours to read.
        File::create(&big).unwrap().set_len(1 << 40).unwrap();
        let err = root.read(&big, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("`{big}` is larger than the download limit of 100 bytes")
        );
        assert_eq!(root.read(&dir.path("leaf.png"), 4).unwrap().len(), 4);
        assert!(matches!(
            root.read(&dir.path("leaf.png"), 3),
            Err(DownloadError::TooLarge { limit: 3, .. })
        ));
    }

    #[test]
    fn the_root_must_be_a_folder() {
        let (dir, _root, _outside) = root_and_outside("root");
        assert!(FileRoot::new(dir.path("leaf.png")).is_err());
        assert!(FileRoot::new(dir.path("missing")).is_err());
        assert!(FileRoot::new(DEFAULT_FILE_ROOT).is_ok());
    }
}
