//! What the image's config says to run: the command, its environment, its
//! working directory (the user is `user.rs`'s).
//!
//! An image is not only files. Its config (the OCI image spec's `config`, the
//! JSON a Dockerfile's `ENTRYPOINT`, `CMD`, `ENV`, `WORKDIR` and `USER` write)
//! says how the files are meant to be run. These are *defaults*: `docker run
//! IMAGE CMD...` overrides some of them, by rules that every Docker user relies
//! on without knowing them, and which we follow:
//!
//! - **Entrypoint and Cmd.** The command is `Entrypoint` followed by `Cmd`. A
//!   command given after the image name replaces `Cmd`, not `Entrypoint`: an
//!   image whose entrypoint is `["redis-server"]` takes `--port 7000` as its
//!   arguments. An image with neither cannot be run without a command.
//! - **Env.** The image's variables, the later of two with one name winning.
//!   A program needs a `PATH` to find other programs, so one is added if the
//!   image has none, and `HOME`, from the user's entry in the image's
//!   `/etc/passwd`, else `/` (runc's rule: Docker leaves it to runc).
//!   The caller's `TERM` comes along, so that a shell draws correctly on the
//!   caller's terminal. Nothing else of the caller's environment does.
//! - **WorkingDir.** Where the command starts; absolute, or the image is wrong.

use ch00_process::DEFAULT_PATH;
use std::path::PathBuf;

use oci_spec::image::Config;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the image has no Entrypoint or Cmd: give a command after the image name")]
    NoCommand,
    #[error(
        "the image's WorkingDir {0:?} is not an absolute path: the image is broken (a working directory starts with /)"
    )]
    RelativeWorkingDir(String),
}

// ANCHOR: argv
/// The command line, by Docker's rules: a command given on the command line
/// (`cmd`) replaces the image's `Cmd`; its `Entrypoint` stays in front.
pub fn argv(config: Option<&Config>, cmd: &[String]) -> Result<Vec<String>, ConfigError> {
    let entrypoint = config.and_then(|c| c.entrypoint().as_deref()).unwrap_or_default();
    let image_cmd = config.and_then(|c| c.cmd().as_deref()).unwrap_or_default();
    let arguments = if cmd.is_empty() { image_cmd } else { cmd };
    let argv = [entrypoint, arguments].concat();
    if argv.is_empty() {
        return Err(ConfigError::NoCommand);
    }
    Ok(argv)
}
// ANCHOR_END: argv

// ANCHOR: environment
/// The container's environment: the image's `Env` (of two entries with one
/// name, the later wins, in its place), with `PATH`, `HOME` and the caller's
/// `TERM` added when the image does not set them. `home` is the user's home
/// from the image's `/etc/passwd`, if it lists one.
pub fn environment(
    config: Option<&Config>,
    home: Option<&str>,
    term: Option<String>,
) -> Vec<String> {
    let image = config.and_then(|c| c.env().as_deref()).unwrap_or_default();
    let name = |entry: &str| entry.split_once('=').map(|(name, _)| name.to_owned());
    let mut env: Vec<String> = Vec::new();
    for (i, entry) in image.iter().enumerate() {
        // An entry without `=`, or with no name, is not a variable: execve(2)
        // would pass it on, but no program could read it. An empty HOME counts
        // as none (runc's rule), so that the user's home fills it in.
        let Some(key) = name(entry).filter(|k| !k.is_empty()) else { continue };
        let later = image[i + 1..].iter().any(|e| name(e).as_ref() == Some(&key));
        if !later && entry != "HOME=" {
            env.push(entry.clone());
        }
    }
    let has = |env: &[String], key: &str| env.iter().any(|e| name(e).as_deref() == Some(key));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", home.filter(|h| !h.is_empty()).unwrap_or("/")));
    }
    if let Some(term) = term.filter(|_| !has(&env, "TERM")) {
        env.push(format!("TERM={term}"));
    }
    env
}
// ANCHOR_END: environment

/// Where the command starts, if the image says: an absolute path.
pub fn working_dir(config: Option<&Config>) -> Result<Option<PathBuf>, ConfigError> {
    match config.and_then(|c| c.working_dir().as_deref()) {
        None | Some("") => Ok(None),
        Some(dir) if dir.starts_with('/') => Ok(Some(PathBuf::from(dir))),
        Some(dir) => Err(ConfigError::RelativeWorkingDir(dir.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The image's config, a command line, and the argv they make.
    type ArgvCase<'a> = (&'a str, &'a [&'a str], Result<&'a [&'a str], ConfigError>);
    /// The image's config, the user's home, the caller's TERM, and the environment.
    type EnvCase<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [&'a str]);

    fn config(json: &str) -> Config {
        serde_json::from_str(json).expect("a valid config")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn argv_follows_dockers_rules() {
        let table: &[ArgvCase] = &[
            (r#"{"Cmd": ["sh"]}"#, &[], Ok(&["sh"])),
            (r#"{"Cmd": ["sh"]}"#, &["ls", "-l"], Ok(&["ls", "-l"])),
            (r#"{"Entrypoint": ["redis-server"]}"#, &[], Ok(&["redis-server"])),
            (
                r#"{"Entrypoint": ["redis-server"]}"#,
                &["--port", "7000"],
                Ok(&["redis-server", "--port", "7000"]),
            ),
            (
                r#"{"Entrypoint": ["/init", "-v"], "Cmd": ["nginx"]}"#,
                &[],
                Ok(&["/init", "-v", "nginx"]),
            ),
            (r#"{"Entrypoint": ["/init"], "Cmd": ["nginx"]}"#, &["sh"], Ok(&["/init", "sh"])),
            (r#"{"Entrypoint": [], "Cmd": []}"#, &["true"], Ok(&["true"])),
            (r#"{}"#, &["true"], Ok(&["true"])),
            (r#"{}"#, &[], Err(ConfigError::NoCommand)),
            (r#"{"Entrypoint": null, "Cmd": []}"#, &[], Err(ConfigError::NoCommand)),
        ];
        for (json, cmd, expected) in table {
            let got = argv(Some(&config(json)), &strings(cmd));
            assert_eq!(got, expected.clone().map(strings), "{json} + {cmd:?}");
        }
        assert_eq!(argv(None, &[]), Err(ConfigError::NoCommand));
        assert_eq!(argv(None, &strings(&["ls"])), Ok(strings(&["ls"])));
        let message = ConfigError::NoCommand.to_string();
        assert!(message.contains("give a command after the image name"), "{message}");
    }

    #[test]
    fn the_environment_is_the_images_with_path_home_and_term_added() {
        let path = format!("PATH={DEFAULT_PATH}");
        let table: &[EnvCase] = &[
            // Nothing set: all three added.
            (r#"{}"#, Some("/root"), Some("xterm"), &[&path, "HOME=/root", "TERM=xterm"]),
            // No home from /etc/passwd: "/"; no caller's TERM: none.
            (r#"{}"#, None, None, &[&path, "HOME=/"]),
            // The image's own win.
            (
                r#"{"Env": ["PATH=/bin", "HOME=/home/x", "TERM=dumb", "A=1"]}"#,
                Some("/root"),
                Some("xterm"),
                &["PATH=/bin", "HOME=/home/x", "TERM=dumb", "A=1"],
            ),
            // Later duplicates win, in their place; values keep their `=`s.
            (r#"{"Env": ["A=1", "B=x=y", "A=2"]}"#, None, None, &[&path, "B=x=y", "A=2", "HOME=/"]),
            // An empty HOME is no HOME; entries that are no variables go.
            (
                r#"{"Env": ["HOME=", "NOEQUALS", "=nameless", "E="]}"#,
                Some("/home/app"),
                None,
                &[&path, "E=", "HOME=/home/app"],
            ),
            (r#"{"Env": ["HOME=/a", "HOME="]}"#, None, None, &[&path, "HOME=/"]),
        ];
        for (json, home, term, expected) in table {
            let got = environment(Some(&config(json)), *home, term.map(str::to_owned));
            assert_eq!(got, strings(expected), "{json}");
        }
        assert_eq!(environment(None, None, None), strings(&[&path, "HOME=/"]));
    }

    #[test]
    fn the_working_directory_must_be_absolute() {
        let dir = |json| working_dir(Some(&config(json)));
        assert_eq!(dir(r#"{"WorkingDir": "/srv/app"}"#), Ok(Some(PathBuf::from("/srv/app"))));
        assert_eq!(dir(r#"{"WorkingDir": ""}"#), Ok(None));
        assert_eq!(dir(r#"{}"#), Ok(None));
        assert_eq!(working_dir(None), Ok(None));
        assert_eq!(
            dir(r#"{"WorkingDir": "app"}"#),
            Err(ConfigError::RelativeWorkingDir("app".into()))
        );
    }
}
