//! The OCI bundle the face writes for a container of an image: `tincan
//! spec`'s config, with what the image and the command line say.

use std::path::Path;

use ch00_process::Container;
use ch08_images::run::Prepared;
use serde_json::{Value, json};

use crate::Failure;

/// What the command line asks beyond the image's config.
pub struct Asked<'a> {
    /// `-e KEY=VALUE` (or `-e KEY`, the caller's value): over the image's
    /// environment.
    pub env: &'a [String],
}

/// Write `dir/config.json` for `container` (the image's command,
/// environment and root, from chapter 8's `prepare`), the image `image_id`.
pub fn write(
    dir: &Path,
    container: &Container,
    prepared: &Prepared,
    image_id: &str,
    asked: &Asked,
) -> Result<(), Failure> {
    let mut config: Value =
        serde_json::from_str(crate::commands::spec::SPEC).expect("tincan spec's config is JSON");
    let ids = &prepared.ids;
    config["process"]["args"] = json!(container.argv);
    config["process"]["env"] = json!(environment(&container.env, asked.env)?);
    let cwd = prepared.working_dir.as_deref().unwrap_or(Path::new("/"));
    config["process"]["cwd"] = json!(cwd);
    config["process"]["user"] =
        json!({"uid": ids.uid, "gid": ids.gid, "additionalGids": ids.groups});
    config["root"]["path"] = json!(container.rootfs);
    // Docker's: the short id.
    config["hostname"] = json!(container.short_id());
    config["annotations"] = json!({ crate::image_root::ANNOTATION: image_id });
    let path = dir.join("config.json");
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| Failure::new(e.to_string()))?;
    std::fs::write(&path, bytes).map_err(|e| Failure::new(format!("write {}: {e}", path.display())))
}

/// The image's environment with `-e` settings over it: a key given again
/// replaces the image's value, in place.
fn environment(image: &[String], given: &[String]) -> Result<Vec<String>, Failure> {
    let mut env = image.to_vec();
    for setting in given {
        // `-e KEY` alone: the caller's value, if it has one (as Docker).
        let setting = match setting.split_once('=') {
            None if !setting.is_empty() => match std::env::var(setting) {
                Ok(value) => format!("{setting}={value}"),
                Err(_) => continue,
            },
            _ => setting.clone(),
        };
        let Some((key, _)) = setting.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Failure::new(format!(
                "-e {setting}: give KEY=VALUE, or KEY to pass yours"
            )));
        };
        match env.iter_mut().find(|e| e.split_once('=').is_some_and(|(k, _)| k == key)) {
            Some(old) => *old = setting.clone(),
            None => env.push(setting.clone()),
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_given_replaces_the_images_and_a_new_one_is_added() {
        let image = ["PATH=/bin".to_owned(), "HOME=/root".to_owned()];
        let given = ["HOME=/tmp".to_owned(), "A=b=c".to_owned()];
        assert_eq!(environment(&image, &given).unwrap(), ["PATH=/bin", "HOME=/tmp", "A=b=c"]);
        assert!(environment(&image, &["=x".to_owned()]).is_err());
        assert!(environment(&image, &["".to_owned()]).is_err());
        // Only a key: the caller's value, or nothing if it has none.
        let path = std::env::var("PATH").unwrap();
        let passed = environment(&image, &["PATH".to_owned(), "TINCAN_SURELY_UNSET".to_owned()]);
        assert_eq!(passed.unwrap(), [format!("PATH={path}"), "HOME=/root".to_owned()]);
    }
}
