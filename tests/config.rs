//! The layered configuration as an operator meets it: the real binary, an
//! `sscard.toml`, `SSCARD_*` variables and flags.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `sscard ARGS` in `dir` with exactly the `SSCARD_*` variables in `env` (any
/// the test runner has are removed), logging warnings only.
fn sscard_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run sscard")
}

fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sscard"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SSCARD_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .current_dir(dir)
        .env("SSCARD_LOG", "warn")
        .envs(env.iter().copied());
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Fails unless the command was stopped by its configuration: exit code 78
/// (`EX_CONFIG`), no panic; returns the error text.
fn refused(output: &Output) -> String {
    let message = stderr(output);
    assert!(
        !output.status.success(),
        "must fail: {}\n{message}",
        stdout(output)
    );
    assert_eq!(output.status.code(), Some(78), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    message
}

/// The printed line of `key` inside `[section]`.
fn printed_line<'a>(printed: &'a str, section: &str, key: &str) -> &'a str {
    let header = format!("[{section}]");
    let mut in_section = false;
    for line in printed.lines() {
        if line.starts_with('[') {
            in_section = line == header;
        } else if in_section
            && (line.starts_with(&format!("{key} = ")) || line.starts_with(&format!("# {key}:")))
        {
            return line;
        }
    }
    panic!("no {key} in [{section}]:\n{printed}");
}

#[test]
fn the_example_production_configuration_is_valid_and_its_secrets_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let example = repo_file("deploy/sscard.toml");
    let output = sscard_in(
        dir.path(),
        &["--config", example.to_str().unwrap(), "config", "print"],
        &[
            // What /etc/sscard/sscard.env holds in production.
            ("SSCARD_SMS_KEY", "sms-provider-secret-key"),
            ("SSCARD_METRICS_TOKEN", "metrics-secret-token-0123456789"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("deploy/sscard.toml (named by --config)"));
    assert_eq!(
        printed_line(&printed, "database", "url"),
        r#"url = "sqlite:///var/lib/sscard/sscard.db" # file"#
    );
    assert_eq!(
        printed_line(&printed, "server", "listen"),
        r#"listen = "0.0.0.0:8080" # file"#
    );
    assert_eq!(
        printed_line(&printed, "server", "secure_cookies"),
        "secure_cookies = true # file"
    );
    assert_eq!(
        printed_line(&printed, "sms", "key"),
        r#"key = "<hidden>" # env SSCARD_SMS_KEY"#
    );
    assert_eq!(
        printed_line(&printed, "metrics", "token"),
        r#"token = "<hidden>" # env SSCARD_METRICS_TOKEN"#
    );
    assert!(!printed.contains("sms-provider-secret-key"), "{printed}");
    assert!(!printed.contains("metrics-secret-token"), "{printed}");
    // The printout is TOML itself.
    let table: toml::Table = toml::from_str(&printed).unwrap();
    assert_eq!(table["logging"]["format"].as_str(), Some("json"));

    // The unit's command line names the same file.
    let unit = std::fs::read_to_string(repo_file("deploy/sscard.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/sscard --config /etc/sscard/sscard.toml serve"),
        "{unit}"
    );

    // Without the key the half-configured SMS provider is refused.
    let output = sscard_in(
        dir.path(),
        &["--config", example.to_str().unwrap(), "config", "print"],
        &[],
    );
    let message = refused(&output);
    assert!(
        message.contains("[sms] key (SSCARD_SMS_KEY) is not"),
        "{message}"
    );
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sscard.toml");
    std::fs::write(
        &file,
        r#"
[database]
url = "sqlite://from-file.db"

[keys]
file = "file-keys.json"

[logging]
format = "json"

[server]
listen = "127.0.0.1:7001"
secure_cookies = true
trusted_proxies = ["10.0.8.0/24"]

[metrics]
allow = ["10.0.0.0/8"]
"#,
    )
    .unwrap();
    let output = sscard_in(
        dir.path(),
        &[
            "config",
            "print",
            "--database-url",
            "sqlite://from-flag.db",
            "--listen",
            "127.0.0.1:7003",
        ],
        &[
            ("SSCARD_CONFIG", file.to_str().unwrap()),
            ("SSCARD_DATABASE_URL", "sqlite://from-env.db"),
            ("SSCARD_LISTEN", "127.0.0.1:7002"),
            ("SSCARD_SECURE_COOKIES", "0"),
            ("SSCARD_METRICS_ALLOW", "192.168.0.0/16,::1"),
            // Empty counts as unset: the file's value stays.
            ("SSCARD_LOG_FORMAT", ""),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("(named by SSCARD_CONFIG)"), "{printed}");
    assert_eq!(
        printed_line(&printed, "database", "url"),
        r#"url = "sqlite://from-flag.db" # flag --database-url"#
    );
    assert_eq!(
        printed_line(&printed, "server", "listen"),
        r#"listen = "127.0.0.1:7003" # flag --listen"#
    );
    assert_eq!(
        printed_line(&printed, "server", "secure_cookies"),
        "secure_cookies = false # env SSCARD_SECURE_COOKIES"
    );
    assert_eq!(
        printed_line(&printed, "metrics", "allow"),
        r#"allow = ["192.168.0.0/16", "::1/128"] # env SSCARD_METRICS_ALLOW"#
    );
    assert_eq!(
        printed_line(&printed, "server", "trusted_proxies"),
        r#"trusted_proxies = ["10.0.8.0/24"] # file"#
    );
    assert_eq!(
        printed_line(&printed, "keys", "file"),
        r#"file = "file-keys.json" # file"#
    );
    assert_eq!(
        printed_line(&printed, "logging", "format"),
        r#"format = "json" # file"#
    );
    assert_eq!(
        printed_line(&printed, "logging", "level"),
        r#"level = "warn" # env SSCARD_LOG"#
    );
    assert_eq!(
        printed_line(&printed, "sms", "url"),
        "# url: not set # default"
    );

    // The environment without the flag; the file without either.
    let output = sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "print"],
        &[("SSCARD_DATABASE_URL", "sqlite://from-env.db")],
    );
    let printed = stdout(&output);
    assert_eq!(
        printed_line(&printed, "database", "url"),
        r#"url = "sqlite://from-env.db" # env SSCARD_DATABASE_URL"#
    );
    assert_eq!(
        printed_line(&printed, "server", "listen"),
        r#"listen = "127.0.0.1:7001" # file"#
    );
    // A flag that switches off what the file switched on.
    let output = sscard_in(
        dir.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "config",
            "print",
            "--secure-cookies=false",
        ],
        &[],
    );
    assert_eq!(
        printed_line(&stdout(&output), "server", "secure_cookies"),
        "secure_cookies = false # flag --secure-cookies"
    );
}

#[test]
fn without_a_file_nothing_is_read_and_the_defaults_hold() {
    let dir = tempfile::tempdir().unwrap();
    // A stray sscard.toml in the working directory is not read.
    std::fs::write(
        dir.path().join("sscard.toml"),
        "[server]\nlisten = \"0.0.0.0:1\"\n",
    )
    .unwrap();
    let output = sscard_in(dir.path(), &["config", "print"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("Configuration file: none"), "{printed}");
    assert_eq!(
        printed_line(&printed, "database", "url"),
        r#"url = "sqlite://data/sscard.db" # default"#
    );
    assert_eq!(
        printed_line(&printed, "server", "listen"),
        r#"listen = "127.0.0.1:8080" # default"#
    );
    assert_eq!(
        printed_line(&printed, "metrics", "allow"),
        r#"allow = ["127.0.0.1/32", "::1/128"] # default"#
    );
    assert_eq!(
        printed_line(&printed, "metrics", "token"),
        "# token: not set # default"
    );
}

#[test]
fn invalid_values_stop_start_up_naming_the_setting_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // The file, the variables, what the message must say.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "[server]\nlisten = \"somewhere\"\n",
            &[],
            &[
                "[server] listen (SSCARD_LISTEN, --listen)",
                "the configuration file",
                "`somewhere` is not an IP address and port",
            ],
        ),
        (
            "[sms]\nurl = \"ftp://sms.example.gov.cn/\"\nkey = \"k\"\n",
            &[],
            &["[sms] url (SSCARD_SMS_URL, --sms-url)", "scheme `ftp`"],
        ),
        (
            "[metrics]\nallow = [\"10.0.0.0/33\"]\n",
            &[],
            &[
                "[metrics] allow (SSCARD_METRICS_ALLOW, --metrics-allow)",
                "prefix length must be 0 to 32",
            ],
        ),
        (
            "[server]\ntrusted_proxies = [\"proxy.internal\"]\n",
            &[],
            &[
                "[server] trusted_proxies (SSCARD_TRUSTED_PROXIES, --trusted-proxies)",
                "`proxy.internal` is not an IP address or CIDR range",
            ],
        ),
        (
            "[logging]\nformat = \"xml\"\n",
            &[],
            &[
                "[logging] format (SSCARD_LOG_FORMAT, --log-format)",
                "use `text` or `json`",
            ],
        ),
        (
            "",
            &[("SSCARD_SECURE_COOKIES", "perhaps")],
            &[
                "[server] secure_cookies (SSCARD_SECURE_COOKIES, --secure-cookies)",
                "the environment variable SSCARD_SECURE_COOKIES",
                "not a yes/no value",
            ],
        ),
        (
            "",
            &[("SSCARD_METRICS_TOKEN", "too-short")],
            &[
                "[metrics] token (SSCARD_METRICS_TOKEN, --metrics-token)",
                "at least 16 characters",
            ],
        ),
    ];
    for (text, env, expected) in cases {
        let file = dir.path().join("sscard.toml");
        std::fs::write(&file, text).unwrap();
        let output = sscard_in(
            dir.path(),
            &["--config", file.to_str().unwrap(), "config", "print"],
            env,
        );
        let message = refused(&output);
        for part in *expected {
            assert!(message.contains(part), "{part:?} in {message}");
        }
        assert!(!message.contains("too-short"), "secrets are not echoed");
    }

    // `serve` refuses the same way, before it opens the database.
    let output = sscard_in(
        dir.path(),
        &["serve"],
        &[
            ("SSCARD_LISTEN", "127.0.0.1:99999"),
            ("SSCARD_DATABASE_URL", "sqlite://never.db"),
        ],
    );
    let message = refused(&output);
    assert!(
        message.contains("[server] listen (SSCARD_LISTEN, --listen), given by the environment variable SSCARD_LISTEN"),
        "{message}"
    );
    assert!(!dir.path().join("never.db").exists());

    // A global setting stops every command.
    let output = sscard_in(dir.path(), &["migrate"], &[("SSCARD_LOG_FORMAT", "yaml")]);
    let message = refused(&output);
    assert!(
        message.contains("[logging] format (SSCARD_LOG_FORMAT, --log-format)"),
        "{message}"
    );
}

#[test]
fn unknown_keys_and_unreadable_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sscard.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisten_port = 8081\n",
    )
    .unwrap();
    let output = sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "migrate"],
        &[],
    );
    let message = refused(&output);
    assert!(message.contains("unknown field `listen_port`"), "{message}");
    assert!(message.contains("line 3, column 1"), "{message}");
    assert!(message.contains("sscard.toml"), "{message}");

    // An unknown table, with a secret on the line: the secret is not quoted.
    std::fs::write(&file, "[smss]\nkey = \"the-secret-sms-key\"\n").unwrap();
    let output = sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "print"],
        &[],
    );
    let message = refused(&output);
    assert!(message.contains("unknown field `smss`"), "{message}");
    std::fs::write(&file, "[sms]\nkye = \"the-secret-sms-key\"\n").unwrap();
    let output = sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "print"],
        &[],
    );
    let message = refused(&output);
    assert!(message.contains("unknown field `kye`"), "{message}");
    assert!(!message.contains("the-secret-sms-key"), "{message}");

    // Not TOML at all.
    std::fs::write(&file, "[server\nlisten = 1\n").unwrap();
    let message = refused(&sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "print"],
        &[],
    ));
    assert!(message.contains("is not valid: line 1"), "{message}");

    // A named file that is missing.
    let output = sscard_in(
        dir.path(),
        &["config", "print"],
        &[("SSCARD_CONFIG", "/nonexistent/sscard.toml")],
    );
    let message = refused(&output);
    assert!(
        message.contains(
            "cannot read the configuration file /nonexistent/sscard.toml (named by SSCARD_CONFIG)"
        ),
        "{message}"
    );
}

#[test]
fn secrets_in_any_layer_are_hidden_and_a_database_password_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sscard.toml");
    std::fs::write(
        &file,
        "[sms]\nurl = \"https://sms.example.gov.cn/send\"\nkey = \"file-sms-secret\"\n",
    )
    .unwrap();
    let output = sscard_in(
        dir.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "config",
            "print",
            "--metrics-token",
            "flag-metrics-secret-0123",
        ],
        &[(
            "SSCARD_DATABASE_URL",
            "postgres://sscard:pg-password-secret@db.internal:5432/sscard",
        )],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    for secret in [
        "file-sms-secret",
        "flag-metrics-secret",
        "pg-password-secret",
    ] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
        assert!(!stderr(&output).contains(secret), "{secret} logged");
    }
    assert_eq!(
        printed_line(&printed, "sms", "key"),
        r#"key = "<hidden>" # file"#
    );
    assert_eq!(
        printed_line(&printed, "metrics", "token"),
        r#"token = "<hidden>" # flag --metrics-token"#
    );
    assert_eq!(
        printed_line(&printed, "database", "url"),
        r#"url = "postgres://sscard:<hidden>@db.internal:5432/sscard" # env SSCARD_DATABASE_URL"#
    );
    assert_eq!(
        printed_line(&printed, "sms", "url"),
        r#"url = "https://sms.example.gov.cn/send" # file"#
    );
}

/// Other commands take the database and key file from the file too.
#[test]
fn commands_use_the_database_and_key_file_the_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sscard.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"sqlite://state/configured.db\"\n\n[keys]\nfile = \"state/configured-keys.json\"\n",
    )
    .unwrap();
    let output = sscard_in(
        dir.path(),
        &["--config", file.to_str().unwrap(), "user", "list"],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("state/configured.db").exists());
    assert!(dir.path().join("state/configured-keys.json").exists());
    assert!(!dir.path().join("data").exists(), "not the defaults");
}

/// `serve` listens where the file says, with the file's database, and stops
/// cleanly on SIGTERM as the systemd unit expects.
#[test]
fn serve_takes_its_settings_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sscard.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"sqlite://srv/sscard.db\"\n\n[keys]\nfile = \"srv/keys.json\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n[logging]\nformat = \"json\"\nlevel = \"info\"\n",
    )
    .unwrap();
    let mut child = command(
        dir.path(),
        &["--config", file.to_str().unwrap(), "serve"],
        &[],
    )
    .env_remove("SSCARD_LOG")
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .expect("start sscard serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let address = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address");
        if line.contains("sscard is serving") {
            // JSON lines, as the file asks.
            let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
            break event["fields"]["address"].as_str().unwrap().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    };
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(dir.path().join("srv/sscard.db").exists());
    // Serving (and so listening for SIGTERM) before it is stopped.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: sscard\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

/// docs/configuration.md names every setting's TOML key, variable and flag.
#[test]
fn every_setting_is_documented() {
    let docs = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
    for name in sscard::config::SETTINGS {
        let key = format!("`{}.{}`", name.section, name.key);
        assert!(docs.contains(&key), "{key} in docs/configuration.md");
        assert!(
            docs.contains(&format!("`{}`", name.env)),
            "{} in docs",
            name.env
        );
        if let Some(flag) = name.flag {
            assert!(docs.contains(&format!("`{flag}`")), "{flag} in docs");
        }
    }
    assert!(docs.contains("`SSCARD_CONFIG`") && docs.contains("`--config`"));
}
