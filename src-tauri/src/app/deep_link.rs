//! `countersign://approvals/<id>[?org=<org>]` links: a chat or mail message points at one
//! approval and a click opens the app on its detail, starting it if needed.
//!
//! The OS hands the link over in three ways: as the first argument of a new process
//! (Linux `.desktop` `Exec=countersign %u`, the Windows registry), forwarded from a second
//! launch to the running instance (single-instance's `deep-link` feature), or as an Apple
//! event (macOS). tauri-plugin-deep-link folds them into `on_open_url` plus `get_current`
//! for the launch URL; everything then goes through [`parse`] and [`deliver`].
//!
//! A link is only ever a request to *show* something: it never decides, never changes the
//! sign-in and never touches the network, so a malformed or foreign link can do no more
//! than show a message (`cs:link-error`). Since any process can open one, it never takes
//! keyboard focus either: the window navigates and asks for the user's attention
//! ([`super::surface_main_window`]), and the window's decision shortcuts wait a moment
//! after the approval on screen changed (ui/js/settle.js).

use std::ffi::OsString;
use std::sync::Mutex;

use countersign_api::is_valid_approval_id;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

use super::bridge;
use super::shell::Shell;

/// The URL scheme registered with the OS (tauri.conf.json `plugins.deep-link`).
pub const SCHEME: &str = countersign_api::APP_LINK_SCHEME;
/// `{message}`: a link that was refused, and why.
pub const EV_LINK_ERROR: &str = "cs:link-error";
/// Longest link accepted; a real one is well under 200 characters.
const MAX_LINK_CHARS: usize = 2048;
/// How much of a refused part is quoted back in a message.
const QUOTE_CHARS: usize = 80;

/// Why a link was refused. The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("This link is too long to be a Countersign link ({0} characters).")]
    TooLong(usize),
    #[error("This is not a link Countersign understands: {0}")]
    Malformed(String),
    #[error("Countersign links look like countersign://approvals/<id>; this one asks for {0:?}.")]
    UnknownTarget(String),
    #[error("{0:?} is not an approval id (they look like appr-xyz789).")]
    BadId(String),
    #[error("This link is for the organisation {link:?}, but you are signed in to {signed_in:?}. Sign in to {link:?} to open it.")]
    OtherOrg { link: String, signed_in: String },
    #[error("This link is for the organisation {0:?}; sign in to it (Settings) to open it.")]
    NotSignedIn(String),
    #[error("Sign in (Settings) to open approval links.")]
    NoSignIn,
}

/// What a good link asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalLink {
    pub id: String,
    /// The `org` query parameter, when the link names one.
    pub org: Option<String>,
}

/// Cuts what the link said down to something fit to quote in a message.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTE_CHARS)
        .collect();
    if s.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    out
}

/// Reads a link: `countersign://approvals/<id>` with an optional `?org=<org>`.
///
/// `signed_in_org` is the organisation of the current sign-in (the demo's in demo mode),
/// `None` when nobody is signed in. A link naming another organisation is refused rather
/// than looked up, so it can never show a colleague's cached data under the wrong org.
/// Unknown query parameters (a chat tool's tracking tags) are ignored.
pub fn parse(link: &str, signed_in_org: Option<&str>) -> Result<ApprovalLink, LinkError> {
    let link = link.trim();
    let n = link.chars().count();
    if n > MAX_LINK_CHARS {
        return Err(LinkError::TooLong(n));
    }
    let url = url::Url::parse(link).map_err(|e| LinkError::Malformed(format!("{e}")))?;
    if url.scheme() != SCHEME {
        return Err(LinkError::Malformed(format!(
            "it starts with {:?}, not {SCHEME}://",
            quote(url.scheme())
        )));
    }
    let host = url.host_str().unwrap_or("");
    if !host.eq_ignore_ascii_case("approvals") {
        return Err(LinkError::UnknownTarget(quote(
            format!("{host}{}", url.path()).trim_start_matches('/'),
        )));
    }
    // One path segment (a trailing slash is forgiven); percent-escapes are not decoded,
    // so an id can only be what is_valid_approval_id accepts literally.
    let path = url.path().strip_prefix('/').unwrap_or("");
    let id = path.strip_suffix('/').unwrap_or(path);
    if !is_valid_approval_id(id) {
        return Err(LinkError::BadId(quote(id)));
    }
    let mut org = None;
    for (k, v) in url.query_pairs() {
        if k == "org" {
            if org.is_some() {
                return Err(LinkError::Malformed("it names the org twice".into()));
            }
            org = Some(v.into_owned());
        }
    }
    match (org.as_deref(), signed_in_org) {
        (_, None) => match org {
            Some(o) => Err(LinkError::NotSignedIn(quote(&o))),
            None => Err(LinkError::NoSignIn),
        },
        (Some(o), Some(mine)) if o != mine => Err(LinkError::OtherOrg {
            link: quote(o),
            signed_in: mine.to_string(),
        }),
        _ => Ok(ApprovalLink {
            id: id.to_string(),
            org,
        }),
    }
}

/// True when the process was started only to open a link (`countersign countersign://...`):
/// that is a launch of the app, not a CLI command.
pub fn is_link_launch(args: &[OsString]) -> bool {
    args.len() == 2
        && args[1]
            .to_str()
            .and_then(|a| a.get(..SCHEME.len() + 1))
            .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{SCHEME}:")))
}

/// Links that arrive before the window's UI listens are kept here and handed over by
/// [`link_ui_ready`]; an event emitted earlier would be lost.
#[derive(Default)]
pub struct LinkInbox {
    state: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    ui_ready: bool,
    /// Only the latest link counts: the user clicked it last.
    pending: Option<Outcome>,
}

#[derive(Debug, Clone)]
enum Outcome {
    Open(String),
    Error(String),
}

#[derive(Clone, Serialize)]
struct LinkErrorPayload<'a> {
    message: &'a str,
}

fn emit(app: &AppHandle, outcome: &Outcome) {
    match outcome {
        Outcome::Open(id) => bridge::open_approval(app, Some(id.clone()), bridge::Raise::Attention),
        Outcome::Error(message) => {
            super::surface_main_window(app);
            if let Err(e) = app.emit(EV_LINK_ERROR, LinkErrorPayload { message }) {
                tracing::warn!("emit link error: {e}");
            }
        }
    }
}

/// Registers the plugin's listener and hands over the link the app was started with.
/// Called from `setup`, after `Shell` and `LinkInbox` are managed.
pub fn setup(app: &AppHandle) {
    let h = app.clone();
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            let h = h.clone();
            tauri::async_runtime::spawn(async move { deliver(&h, url.as_str()).await });
        }
    });
    match app.deep_link().get_current() {
        Ok(Some(urls)) => {
            for url in urls {
                let h = app.clone();
                tauri::async_runtime::spawn(async move { deliver(&h, url.as_str()).await });
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("reading the launch link: {e}"),
    }
}

/// Checks `link` against the current sign-in and shows its approval or the reason it
/// was refused, now if the UI listens, else as soon as it does.
pub async fn deliver(app: &AppHandle, link: &str) {
    let engine = app.state::<Shell>().engine();
    let org = match engine.blocking(|e| e.settings()).await {
        Ok(s) => s.org,
        Err(e) => {
            tracing::warn!("reading the sign-in for a link: {e}");
            None
        }
    };
    let outcome = match parse(link, org.as_deref()) {
        Ok(l) => {
            tracing::info!(id = %l.id, "opening a link");
            Outcome::Open(l.id)
        }
        Err(e) => {
            tracing::info!(link = %quote(link), "refused a link: {e}");
            Outcome::Error(e.to_string())
        }
    };
    let inbox = app.state::<LinkInbox>();
    let ready = {
        let mut st = inbox.state.lock().unwrap_or_else(|e| e.into_inner());
        if !st.ui_ready {
            st.pending = Some(outcome.clone());
        }
        st.ui_ready
    };
    if ready {
        emit(app, &outcome);
    } else {
        // Still make the window noticeable: it is what the click asked for.
        super::surface_main_window(app);
    }
}

/// The UI calls this once its listeners are in place; a link that arrived before then
/// is emitted now.
#[tauri::command]
pub async fn link_ui_ready(app: AppHandle, inbox: tauri::State<'_, LinkInbox>) -> Result<(), ()> {
    let pending = {
        let mut st = inbox.state.lock().unwrap_or_else(|e| e.into_inner());
        st.ui_ready = true;
        st.pending.take()
    };
    if let Some(outcome) = pending {
        emit(&app, &outcome);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: Option<&str> = Some("org-demo");

    fn ok(id: &str, org: Option<&str>) -> Result<ApprovalLink, LinkError> {
        Ok(ApprovalLink {
            id: id.into(),
            org: org.map(str::to_string),
        })
    }

    #[test]
    fn a_good_link_names_the_approval() {
        assert_eq!(
            parse("countersign://approvals/appr-xyz789", ORG),
            ok("appr-xyz789", None)
        );
        assert_eq!(
            parse("countersign://approvals/appr-xyz789/", ORG),
            ok("appr-xyz789", None)
        );
        assert_eq!(
            parse("countersign://approvals/appr-xyz789?org=org-demo", ORG),
            ok("appr-xyz789", Some("org-demo"))
        );
        // A chat tool's tracking tags are no reason to refuse.
        assert_eq!(
            parse(
                "  countersign://approvals/appr-a_b-1?utm_source=chat&org=org-demo\n",
                ORG
            ),
            ok("appr-a_b-1", Some("org-demo"))
        );
        // The scheme and host are case-insensitive in URLs.
        assert_eq!(
            parse("COUNTERSIGN://Approvals/appr-xyz789", ORG),
            ok("appr-xyz789", None)
        );
    }

    #[test]
    fn an_unknown_target_is_refused() {
        for link in [
            "countersign://settings/appr-xyz789",
            "countersign://approval/appr-xyz789",
            "countersign:///appr-xyz789",
            "countersign:approvals/appr-xyz789",
        ] {
            let e = parse(link, ORG).unwrap_err();
            assert!(matches!(e, LinkError::UnknownTarget(_)), "{link}: {e:?}");
            assert!(
                e.to_string().contains("countersign://approvals/<id>"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_bad_id_is_refused() {
        for link in [
            "countersign://approvals/",
            "countersign://approvals",
            "countersign://approvals/xyz789",
            "countersign://approvals/appr-",
            "countersign://approvals/APPR-XYZ",
            "countersign://approvals/appr-xyz789/approve",
            "countersign://approvals/appr-%78yz",
            "countersign://approvals/appr-xyz789%2Fapprove",
            "countersign://approvals/..%2Fsettings",
        ] {
            let e = parse(link, ORG).unwrap_err();
            assert!(matches!(e, LinkError::BadId(_)), "{link}: {e:?}");
            assert!(e.to_string().contains("not an approval id"), "{e}");
        }
        let long = format!("countersign://approvals/appr-{}", "a".repeat(65));
        assert!(matches!(parse(&long, ORG), Err(LinkError::BadId(_))));
        // The message quotes a bounded part of the input, never the whole of it.
        let e = parse(&long, ORG).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn another_org_than_the_signed_in_one_is_refused() {
        let e = parse("countersign://approvals/appr-xyz789?org=org-acme", ORG).unwrap_err();
        assert_eq!(
            e,
            LinkError::OtherOrg {
                link: "org-acme".into(),
                signed_in: "org-demo".into()
            }
        );
        assert!(e.to_string().contains("org-acme") && e.to_string().contains("org-demo"));
        // Nobody signed in: nothing to show it against.
        assert_eq!(
            parse("countersign://approvals/appr-xyz789?org=org-acme", None),
            Err(LinkError::NotSignedIn("org-acme".into()))
        );
        assert_eq!(
            parse("countersign://approvals/appr-xyz789", None),
            Err(LinkError::NoSignIn)
        );
        assert!(matches!(
            parse(
                "countersign://approvals/appr-xyz789?org=org-demo&org=org-acme",
                ORG
            ),
            Err(LinkError::Malformed(_))
        ));
    }

    #[test]
    fn what_is_not_a_countersign_link_is_refused() {
        for link in [
            "",
            "appr-xyz789",
            "https://approvals/appr-xyz789",
            "javascript:alert(1)",
        ] {
            assert!(
                matches!(parse(link, ORG), Err(LinkError::Malformed(_))),
                "{link}"
            );
        }
        let huge = format!("countersign://approvals/appr-x?pad={}", "a".repeat(5000));
        assert!(matches!(parse(&huge, ORG), Err(LinkError::TooLong(_))));
        // Control characters never reach the message.
        let e = parse("countersign://appr\u{1b}[31m/x", ORG).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn a_link_as_the_only_argument_is_a_launch_of_the_app() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_link_launch(&v(&[
            "countersign",
            "countersign://approvals/appr-x"
        ])));
        assert!(is_link_launch(&v(&["countersign", "Countersign:whatever"])));
        assert!(!is_link_launch(&v(&["countersign", "show", "appr-x"])));
        assert!(!is_link_launch(&v(&["countersign"])));
        assert!(!is_link_launch(&v(&[
            "countersign",
            "countersign://approvals/appr-x",
            "extra"
        ])));
    }
}
