//! Server secrets that default to "generated once, kept in the data directory": the token MAC
//! key (`secret.key`) and the public API key (`public_api.key`), both mode 0600.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;
use rand::RngCore;

/// Random bytes from the OS CSPRNG, hex encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Creates `dir` (and its parents) readable by the owner only (0700); an existing directory
/// is left as it is.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Restricts existing files to their owner (0600); missing ones are skipped.
pub fn private_files(paths: &[std::path::PathBuf]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for path in paths.iter().filter(|p| p.exists()) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

/// True when others than the owner may read or enter `dir`.
pub fn is_open_to_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Reads `dir/name`, or creates it (mode 0600) with `generate()` when it does not exist.
/// Returns the value and whether it was created just now.
pub fn load_or_create(
    dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<(String, bool)> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_string(), false)),
        Ok(_) => anyhow::bail!(
            "{} is empty; delete it to generate a new one",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    private_dir(dir)?;
    let value = generate();
    // Written whole to a private temporary, then linked into place: `hard_link` fails when the
    // name exists, so of two processes starting at once exactly one secret wins, and nobody
    // ever reads a half-written file.
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&temporary, &path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok((value, true)),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process linked its secret first: use theirs (complete, by construction).
            let text = std::fs::read_to_string(&path)?;
            Ok((text.trim().to_string(), false))
        }
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_is_generated_once_with_mode_0600_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create(dir.path(), "secret.key", || random_hex(32)).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = load_or_create(dir.path(), "secret.key", || random_hex(32)).unwrap();
        assert!(!created);
        assert_eq!(first, again);
    }
}
