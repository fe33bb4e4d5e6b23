//! `countersign login` sends the token over http:// only to this machine, unless the
//! user explicitly allows an unencrypted connection; that override is remembered and
//! every command warns while it lasts. This test only ever contacts loopback:
//! `0.0.0.0` is "another machine" to the rule (it is not a loopback address), while
//! Linux routes a connection to it to this machine.

#[path = "cli_support/harness.rs"]
mod harness;

use std::net::TcpListener;

use harness::*;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn plain_http_beyond_loopback_is_refused_before_any_connection() {
    let env = Env::new();
    // Refused before the token is even read: stdin is empty, and the error is about
    // the connection, not the missing token.
    let o = env.run(&[
        "login",
        "--server",
        "http://example.invalid",
        "--org",
        ORG,
        "--token-stdin",
    ]);
    assert_ne!(code(&o), 0);
    let err = stderr(&o);
    assert!(err.contains("unencrypted"), "{err}");
    assert!(err.contains("--allow-insecure-http"), "{err}");
    assert!(!err.contains("no token"), "{err}");

    // Nothing connects: a listener on the port sees no connection at all.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = env.login_to(&format!("http://0.0.0.0:{port}"));
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("unencrypted"), "{}", stderr(&o));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the CLI connected although it refused"
    );
}

#[test]
fn loopback_http_is_accepted_without_a_warning() {
    let env = Env::new();
    let o = env.login_to(&env.url());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.url().starts_with("http://127.0.0.1:"));
    let q = env.run(&["queue"]);
    assert!(q.status.success(), "{}", stderr(&q));
    assert!(!stderr(&q).contains("unencrypted"), "{}", stderr(&q));
}

#[test]
fn the_explicit_override_is_remembered_and_every_command_warns() {
    let env = Env::new();
    let port = env.url().rsplit(':').next().unwrap().to_string();
    let server = format!("http://0.0.0.0:{port}");
    let mut cmd = env.cmd(&[]);
    cmd.args([
        "login",
        "--server",
        &server,
        "--org",
        ORG,
        "--token-stdin",
        "--allow-insecure-http",
    ]);
    let o = output_with_stdin(cmd, &format!("{ALICE}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("unencrypted"), "{}", stderr(&o));
    for args in [&["queue"][..], &["sync"][..]] {
        let o = env.run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("warning: unencrypted connection to http://0.0.0.0"),
            "{args:?}: {err}"
        );
    }
}
