//! The part of an image's config that says how to run it (`image-spec/config.md`,
//! the `config` object): what `ch08 run` must honour. One description, written
//! two ways: as `umoci config` flags (images the real tool builds) and as the
//! config JSON itself (images the tests craft).

use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `uid[:gid]` or a name, as `USER` in a Dockerfile.
    pub user: Option<String>,
    /// `PORT/PROTO`, such as `8080/tcp`.
    pub exposed_ports: Vec<String>,
    pub os: String,
    pub architecture: String,
}

impl Default for ImageConfig {
    /// Nothing to run, for linux/amd64.
    fn default() -> Self {
        ImageConfig {
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            user: None,
            exposed_ports: Vec::new(),
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
        }
    }
}

/// What [`ImageConfig::three_layers`]'s command prints when run as configured.
pub const THREE_LAYERS_GREETING: &str = "hello from /srv as 1000:1000";

impl ImageConfig {
    /// The three-layer image's: one line shows that the entrypoint, command,
    /// environment, working directory and user were all applied
    /// ([`THREE_LAYERS_GREETING`]); a command given to `run` replaces `Cmd` and
    /// is still run by `sh -c`.
    pub fn three_layers() -> ImageConfig {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        ImageConfig {
            entrypoint: strings(&["/bin/sh", "-c"]),
            cmd: strings(&[r#"echo "$GREETING from $(pwd) as $(id -u):$(id -g)""#]),
            env: strings(&["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "GREETING=hello"]),
            working_dir: Some("/srv".to_owned()),
            user: Some("1000:1000".to_owned()),
            exposed_ports: strings(&["8080/tcp"]),
            ..ImageConfig::default()
        }
    }

    /// The `umoci config` flags that set this.
    pub fn umoci_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag =
            |name: &str, value: &str| args.extend([format!("--{name}"), value.to_owned()]);
        self.entrypoint.iter().for_each(|v| flag("config.entrypoint", v));
        self.cmd.iter().for_each(|v| flag("config.cmd", v));
        self.env.iter().for_each(|v| flag("config.env", v));
        self.working_dir.iter().for_each(|v| flag("config.workingdir", v));
        self.user.iter().for_each(|v| flag("config.user", v));
        self.exposed_ports.iter().for_each(|v| flag("config.exposedports", v));
        flag("os", &self.os);
        flag("architecture", &self.architecture);
        args
    }

    /// The config JSON of an image whose layers have these `diff_ids` (the
    /// digests of the uncompressed tars, in order).
    pub fn to_json(&self, diff_ids: &[String]) -> Value {
        let mut config = serde_json::Map::new();
        let mut set = |key: &str, value: Value| {
            config.insert(key.to_owned(), value);
        };
        if !self.entrypoint.is_empty() {
            set("Entrypoint", json!(self.entrypoint));
        }
        if !self.cmd.is_empty() {
            set("Cmd", json!(self.cmd));
        }
        if !self.env.is_empty() {
            set("Env", json!(self.env));
        }
        if let Some(dir) = &self.working_dir {
            set("WorkingDir", json!(dir));
        }
        if let Some(user) = &self.user {
            set("User", json!(user));
        }
        if !self.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, Value> =
                self.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect();
            set("ExposedPorts", Value::Object(ports));
        }
        json!({
            "architecture": self.architecture,
            "os": self.os,
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        })
    }
}
