//! Writing a single-layer OCI image archive (an OCI layout packed as a tar) that containerd's
//! importer accepts: blobs by sha256, an uncompressed layer, and the `io.containerd.image.name`
//! annotation on the index entry (reference §1.3). Used for the offline pause image and for
//! test images, so neither needs umoci or a registry.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OciArchiveError {
    #[error("reading {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the OCI archive {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building a tar: {0}")]
    Tar(std::io::Error),
}

/// One entry of the image's only layer.
#[derive(Debug, Clone)]
enum LayerEntry {
    Directory {
        path: String,
    },
    File {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// An image being assembled: its layer entries and its runtime configuration.
#[derive(Debug, Clone, Default)]
pub struct OciImageBuilder {
    entries: Vec<LayerEntry>,
    entrypoint: Vec<String>,
    command: Vec<String>,
    environment: Vec<String>,
    working_dir: String,
}

impl OciImageBuilder {
    pub fn new() -> Self {
        Self {
            environment: vec!["PATH=/bin:/usr/bin:/sbin:/usr/sbin".to_owned()],
            ..Self::default()
        }
    }

    pub fn directory(mut self, path: &str) -> Self {
        self.entries.push(LayerEntry::Directory {
            path: path.to_owned(),
        });
        self
    }

    pub fn file(mut self, path: &str, contents: Vec<u8>, mode: u32) -> Self {
        self.entries.push(LayerEntry::File {
            path: path.to_owned(),
            contents,
            mode,
        });
        self
    }

    /// Copies a host file into the image at `path`, keeping its permission bits.
    pub fn host_file(self, path: &str, host_path: &Path) -> Result<Self, OciArchiveError> {
        use std::os::unix::fs::PermissionsExt;
        let read_error = |source| OciArchiveError::ReadFile {
            path: host_path.to_owned(),
            source,
        };
        let contents = std::fs::read(host_path).map_err(read_error)?;
        let mode = std::fs::metadata(host_path)
            .map_err(read_error)?
            .permissions()
            .mode()
            & 0o7777;
        Ok(self.file(path, contents, mode))
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(LayerEntry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        });
        self
    }

    pub fn entrypoint(mut self, entrypoint: &[&str]) -> Self {
        self.entrypoint = entrypoint.iter().map(|part| (*part).to_owned()).collect();
        self
    }

    pub fn command(mut self, command: &[&str]) -> Self {
        self.command = command.iter().map(|part| (*part).to_owned()).collect();
        self
    }

    pub fn working_dir(mut self, working_dir: &str) -> Self {
        self.working_dir = working_dir.to_owned();
        self
    }

    /// Writes the archive for the fully qualified `image_name` (e.g. `hakube.local/pause:1`).
    /// (Serializing a `serde_json::Value` cannot fail, hence the `unwrap_or_default`s.)
    pub fn write_archive(
        &self,
        image_name: &str,
        archive_path: &Path,
    ) -> Result<(), OciArchiveError> {
        let layer = self.layer_tar()?;
        let layer_digest = sha256_hex(&layer);
        let config = serde_json::to_vec(&self.config_json(&layer_digest)).unwrap_or_default();
        let config_digest = sha256_hex(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer_digest, layer.len())],
        }))
        .unwrap_or_default();
        let manifest_digest = sha256_hex(&manifest);
        let tag = image_name.rsplit_once(':').map_or("latest", |(_, tag)| tag);
        let mut manifest_entry = descriptor(
            "application/vnd.oci.image.manifest.v1+json",
            &manifest_digest,
            manifest.len(),
        );
        manifest_entry["annotations"] = json!({ "io.containerd.image.name": image_name, "org.opencontainers.image.ref.name": tag });
        let index =
            serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": [manifest_entry] }))
                .unwrap_or_default();
        let blobs = [
            (&layer_digest, &layer),
            (&config_digest, &config),
            (&manifest_digest, &manifest),
        ];
        write_layout(archive_path, &index, &blobs)
    }

    fn config_json(&self, layer_digest: &str) -> serde_json::Value {
        json!({
            "architecture": oci_architecture(),
            "os": "linux",
            "config": {
                "Env": self.environment,
                "Entrypoint": self.entrypoint,
                "Cmd": self.command,
                "WorkingDir": self.working_dir,
            },
            "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        })
    }

    fn layer_tar(&self) -> Result<Vec<u8>, OciArchiveError> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append_entry(&mut builder, entry).map_err(OciArchiveError::Tar)?;
        }
        builder.into_inner().map_err(OciArchiveError::Tar)
    }
}

fn append_entry(builder: &mut tar::Builder<Vec<u8>>, entry: &LayerEntry) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    match entry {
        LayerEntry::Directory { path } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, path, std::io::empty())
        }
        LayerEntry::File {
            path,
            contents,
            mode,
        } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(*mode);
            header.set_size(contents.len() as u64);
            builder.append_data(&mut header, path, contents.as_slice())
        }
        LayerEntry::Symlink { path, target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, path, target)
        }
    }
}

/// Packs `oci-layout`, `index.json` and the blobs into the archive file.
fn write_layout(
    archive_path: &Path,
    index: &[u8],
    blobs: &[(&String, &Vec<u8>)],
) -> Result<(), OciArchiveError> {
    let mut builder = tar::Builder::new(Vec::new());
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    let mut files = vec![
        ("oci-layout".to_owned(), layout),
        ("index.json".to_owned(), index.to_vec()),
    ];
    for (digest, contents) in blobs {
        files.push((format!("blobs/sha256/{digest}"), (*contents).clone()));
    }
    for directory in ["blobs/", "blobs/sha256/"] {
        append_entry(
            &mut builder,
            &LayerEntry::Directory {
                path: directory.to_owned(),
            },
        )
        .map_err(OciArchiveError::Tar)?;
    }
    for (path, contents) in files {
        append_entry(
            &mut builder,
            &LayerEntry::File {
                path,
                contents,
                mode: 0o644,
            },
        )
        .map_err(OciArchiveError::Tar)?;
    }
    let bytes = builder.into_inner().map_err(OciArchiveError::Tar)?;
    std::fs::write(archive_path, bytes).map_err(|source| OciArchiveError::Write {
        path: archive_path.to_owned(),
        source,
    })
}

fn descriptor(media_type: &str, digest_hex: &str, size: usize) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": format!("sha256:{digest_hex}"), "size": size })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The OCI name of this machine's architecture.
fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_a_layout_with_the_image_name() -> Result<(), Box<dyn std::error::Error>> {
        let directory = tempfile::tempdir()?;
        let archive = directory.path().join("x.tar");
        OciImageBuilder::new()
            .directory("bin/")
            .file("bin/hello", b"hi".to_vec(), 0o755)
            .symlink("bin/sh", "hello")
            .command(&["/bin/hello"])
            .write_archive("hakube.local/x:1", &archive)?;
        let mut reader = tar::Archive::new(std::fs::File::open(&archive)?);
        let mut index = String::new();
        let mut blob_count = 0;
        for entry in reader.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.display().to_string();
            if path == "index.json" {
                std::io::Read::read_to_string(&mut entry, &mut index)?;
            } else if path.starts_with("blobs/sha256/") && entry.header().entry_type().is_file() {
                blob_count += 1;
            }
        }
        assert_eq!(blob_count, 3);
        assert!(index.contains(r#""io.containerd.image.name":"hakube.local/x:1""#));
        Ok(())
    }
}
