//! Image → local binary: there is no registry and no image store here, so an image names a
//! program in the agent's `--bin-dir`. `registry.example/team/consumer-svc:1.4@sha256:…` runs
//! `<bin-dir>/consumer-svc`: the registry, repository path, tag and digest only select, they
//! are not checked, because one local build serves every tag.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why an image has no local binary; reported as `ErrImagePull` (the reason a kubelet gives
/// when it cannot fetch an image), so `kubectl get pods` shows the familiar column.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImageError {
    #[error("image {image:?} has no name this node can map to a binary (expected <anything>/<name>:<tag>, name of A-Za-z0-9._-)")]
    Unmappable { image: String },
    #[error("image {image:?} maps to {path}, which is not an executable file: {why}")]
    Missing {
        image: String,
        path: String,
        why: String,
    },
}

/// The binary name an image maps to: its last path segment without tag or digest.
pub fn binary_name(image: &str) -> Result<&str, ImageError> {
    let unmappable = || ImageError::Unmappable {
        image: image.to_owned(),
    };
    let without_digest = image.split('@').next().unwrap_or_default();
    let last_segment = without_digest.rsplit('/').next().unwrap_or_default();
    // A `:` in the last segment starts the tag (a registry port sits in an earlier segment).
    let name = last_segment.split(':').next().unwrap_or_default();
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(name)
    } else {
        Err(unmappable())
    }
}

/// The executable an image maps to under `bin_dir`.
pub fn resolve(bin_dir: &Path, image: &str) -> Result<PathBuf, ImageError> {
    let path = bin_dir.join(binary_name(image)?);
    let missing = |why: String| ImageError::Missing {
        image: image.to_owned(),
        path: path.display().to_string(),
        why,
    };
    let metadata = std::fs::metadata(&path).map_err(|error| missing(error.to_string()))?;
    if !metadata.is_file() {
        return Err(missing("not a regular file".to_owned()));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(missing("not executable".to_owned()));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_last_segment_without_tag_or_digest() {
        assert_eq!(binary_name("consumer-svc").unwrap(), "consumer-svc");
        assert_eq!(
            binary_name("surge/consumer-svc:dev").unwrap(),
            "consumer-svc"
        );
        assert_eq!(
            binary_name("registry.local:5000/team/producer-svc:1.2@sha256:abc").unwrap(),
            "producer-svc"
        );
    }

    #[test]
    fn refuses_names_that_cannot_be_a_file_in_the_bin_dir() {
        for image in ["", "repo/", "repo/..:1", "a/b c:1", ":tag", "@sha256:abc"] {
            assert!(
                matches!(binary_name(image), Err(ImageError::Unmappable { .. })),
                "{image:?} should be refused"
            );
        }
    }

    #[test]
    fn refuses_a_name_without_an_executable_file() {
        let dir = std::env::temp_dir();
        let error = resolve(&dir, "surge/no-such-binary-here:1").unwrap_err();
        assert!(matches!(error, ImageError::Missing { .. }), "{error}");
    }
}
