//! Volumes, and `-v SRC:DST[:ro]`: a directory of the host mounted into the
//! container, either one you name by its path (a bind mount) or a *volume*,
//! a directory the store keeps for you by name, which outlives the
//! containers that use it (`tincan volume create|ls|rm`).
//!
//! ```text
//! STORE/volumes/NAME/_data    what the container sees at DST (Docker's layout)
//! ```
//!
//! Either way it is a bind mount in the container's config: the core mounts
//! it, resolving DST inside the container's root, never through a link.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::store::{Containers, check_name};
use crate::Failure;

/// One `-v`, resolved: what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// The volume's name, or `None` for a directory of the host.
    pub volume: Option<String>,
    /// The host's directory (a volume's `_data`).
    pub source: PathBuf,
    /// Where the container sees it.
    pub destination: PathBuf,
    pub read_only: bool,
}

impl Mount {
    /// The config's entry: a recursive bind mount, read-only if asked.
    pub fn oci(&self) -> Value {
        // Docker's options: the mounts below SRC come too, and with `:ro`
        // they are read-only too (Docker 25's rule, with `rro`).
        let mut options = vec!["rbind"];
        if self.read_only {
            options.extend(["ro", "rro"]);
        }
        json!({
            "destination": self.destination,
            "type": "bind",
            "source": self.source,
            "options": options,
        })
    }
}

/// The store's volumes.
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(store_root: &Path) -> Volumes {
        Volumes { dir: store_root.join("volumes") }
    }

    /// Volume `name`'s data directory, made if it is not there yet (as
    /// Docker's `-v NAME:/dst` makes it).
    pub fn create(&self, name: &str) -> Result<PathBuf, Failure> {
        check_name(name).map_err(|_| {
            Failure::new(format!(
                "invalid volume name {name:?}: a letter or digit, then letters, digits, '_', '.' or '-'"
            ))
        })?;
        let data = self.data(name);
        // Mode 700 up to the volume: only root finds it. `_data` itself is
        // the container's to set (755, as Docker makes it).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.dir.join(name))
            .and_then(|()| std::fs::DirBuilder::new().mode(0o755).create(&data))
            .or_else(|e| if data.is_dir() { Ok(()) } else { Err(e) })
            .map_err(|e| Failure::new(format!("make the volume {name}: {e}")))?;
        Ok(data)
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Every volume's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let entries = std::fs::read_dir(&self.dir).into_iter().flatten().flatten();
        let mut names: Vec<String> = entries
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        names
    }

    /// Remove volume `name` and what it holds, unless a container uses it.
    pub fn remove(&self, name: &str, containers: &Containers) -> Result<(), Failure> {
        check_name(name)?;
        // No `run` may be taking it meanwhile.
        let _making = containers.making(true)?;
        if !self.dir.join(name).is_dir() {
            return Err(Failure::new(format!("no such volume: {name}")));
        }
        let users: Vec<String> = containers
            .all()
            .into_iter()
            .filter(|r| r.mounts.iter().any(|m| m.volume.as_deref() == Some(name)))
            .map(|r| r.name)
            .collect();
        if !users.is_empty() {
            return Err(Failure::new(format!(
                "volume {name} is in use by {}: remove them first (tincan rm)",
                users.join(", ")
            )));
        }
        std::fs::remove_dir_all(self.dir.join(name))
            .map_err(|e| Failure::new(format!("remove the volume {name}: {e}")))
    }
}

/// Read one `-v SRC:DST[:ro|:rw]`. SRC is a host path if it starts with `/`
/// (it must exist: Docker would make it, and a typo would become a new
/// directory of the host's), else a volume's name.
pub fn parse(text: &str, volumes: &Volumes) -> Result<Mount, Failure> {
    let wrong = |why: &str| Failure::new(format!("-v {text}: {why}"));
    let parts: Vec<&str> = text.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [source, destination] => (*source, *destination, "rw"),
        [source, destination, mode] => (*source, *destination, *mode),
        _ => return Err(wrong("give SOURCE:DESTINATION, and :ro for read-only")),
    };
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        _ => return Err(wrong("the mode is ro or rw")),
    };
    let destination = PathBuf::from(destination);
    if !destination.is_absolute() || destination == Path::new("/") {
        return Err(wrong("the destination is a path in the container, such as /data"));
    }
    let (volume, source) = if source.starts_with('/') {
        let path = Path::new(source);
        if !path.exists() {
            return Err(wrong("no such directory or file on this host: create it first"));
        }
        (None, path.to_owned())
    } else {
        (Some(source.to_owned()), volumes.create(source)?)
    };
    Ok(Mount { volume, source, destination, read_only })
}

/// `tincan volume ls`: as `docker volume ls` lists them.
pub fn list(volumes: &Volumes, quiet: bool) {
    if !quiet {
        println!("DRIVER    VOLUME NAME");
    }
    for name in volumes.names() {
        match quiet {
            true => println!("{name}"),
            false => println!("local     {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_bound_and_a_name_is_a_volume() {
        let store = tempfile::tempdir().unwrap();
        let volumes = Volumes::new(store.path());
        let host = parse("/tmp:/data:ro", &volumes).unwrap();
        assert_eq!(host.volume, None);
        assert_eq!(host.source, Path::new("/tmp"));
        assert!(host.read_only);
        assert!(host.oci()["options"].as_array().unwrap().contains(&json!("ro")));
        let named = parse("cache:/var/cache", &volumes).unwrap();
        assert_eq!(named.volume.as_deref(), Some("cache"));
        assert!(named.source.is_dir(), "made on first use");
        assert!(!named.read_only);
        assert_eq!(volumes.names(), ["cache"]);
        for bad in
            ["/tmp", "/tmp:data", "/tmp:/", "/tmp:/d:rx", "/no/such/dir:/d", "../x:/d", "a:b:c:d"]
        {
            assert!(parse(bad, &volumes).is_err(), "{bad:?}");
        }
        let containers = Containers::new(store.path());
        volumes.remove("cache", &containers).unwrap();
        assert!(volumes.names().is_empty());
        assert!(volumes.remove("cache", &containers).unwrap_err().0.contains("no such volume"));
    }
}
