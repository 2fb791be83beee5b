//! The `ingest-gateway` program itself: what it prints and what it refuses before it serves. No broker is
//! needed: each case ends before the program connects anywhere.

use std::process::{Command, Output};

const SECRETS: [&str; 4] = ["tok-5ecret-1", "pw-5ecret-2", "tok-5ecret-3", "ch-5ecret-4"];

fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the gateway binary runs")
}

fn printed(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn with_secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GATEWAY_AUTH_TOKEN", SECRETS[0]),
        ("GATEWAY_AUTH_USERNAME", "worker"),
        ("GATEWAY_AUTH_PASSWORD", SECRETS[1]),
        ("GATEWAY_CLIENTS", r#"[{"name": "edge", "token": "tok-5ecret-3"}]"#),
        ("CLICKHOUSE_PASSWORD", SECRETS[3]),
    ]
}

#[test]
fn help_names_every_secret_setting_but_shows_none_of_their_values() {
    for args in [&["--help"][..], &["serve", "--help"]] {
        let output = gateway(args, &with_secrets());
        let text = printed(&output);
        assert!(output.status.success(), "{text}");
        for setting in ["GATEWAY_CLIENTS", "GATEWAY_AUTH_TOKEN", "GATEWAY_AUTH_PASSWORD", "CLICKHOUSE_PASSWORD"] {
            assert!(text.contains(setting), "{setting} missing from\n{text}");
        }
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} printed by {args:?}:\n{text}");
        }
    }
}

#[test]
fn serve_refuses_a_public_address_without_credentials() {
    let output = gateway(&["serve"], &[("GATEWAY_LISTEN", "0.0.0.0:0")]);

    let text = printed(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("GATEWAY_ALLOW_UNAUTHENTICATED") && text.contains("GATEWAY_CLIENTS"), "{text}");
}

#[test]
fn serve_refuses_a_broken_client_list_without_printing_it() {
    let broken = r#"[{"name": "edge", "token": "tok-5ecret-1", "rate_limit_per_second": "pw-5ecret-2"}]"#;
    let output = gateway(&["serve"], &[("GATEWAY_CLIENTS", broken)]);

    let text = printed(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("GATEWAY_CLIENTS"), "{text}");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
}

#[test]
fn an_invalid_setting_stops_the_program_naming_it() {
    let output = gateway(&["serve"], &[("REQUEST_TIMEOUT_MS", "100"), ("PRODUCE_TIMEOUT_MS", "5000")]);

    assert_eq!(output.status.code(), Some(2), "{}", printed(&output));
    assert!(printed(&output).contains("REQUEST_TIMEOUT_MS"));
}
