//! `countersign verify-receipt FILE`: checks a decision's receipt offline, as an
//! executor would before running what was approved.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use countersign_core::api::{Approval, Device, DeviceList, Receipt};
use countersign_core::receipt::{self, KeysSource, OfflineFailure};
use countersign_core::Engine;
use serde::{Deserialize, Serialize};

use super::commands::print_json;
use super::{CliError, EXIT_OTHER, EXIT_UNVERIFIED, EXIT_USAGE};

/// Largest input read: an approval may be up to the API's body limit on its own.
const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;
/// How long the server gets to answer with the org's keys before the cache is used.
const KEYS_WAIT: Duration = Duration::from_secs(5);

/// The two accepted shapes of FILE.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Pair {
        receipt: Box<Receipt>,
        approval: Box<Approval>,
    },
    Approval(Box<Approval>),
}

/// `--keys` FILE: the answer of `GET /devices`, or just its list.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeysFile {
    List(DeviceList),
    Items(Vec<Device>),
}

#[derive(Serialize)]
struct Report<'a> {
    verified: bool,
    approval_id: &'a str,
    keys_from: KeysSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    let stdin = path == Path::new("-");
    let shown = if stdin {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let mut buf = Vec::new();
    let res = if stdin {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut buf))
    };
    res.map_err(|e| {
        CliError::new(
            EXIT_USAGE,
            format!("cannot read the {what} from {shown}: {e}"),
        )
    })?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("the {what} in {shown} is longer than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    Ok(buf)
}

pub async fn run(
    engine: &Engine,
    file: &Path,
    keys: Option<&Path>,
    json: bool,
) -> Result<(), CliError> {
    let input: Input = serde_json::from_slice(&read(file, "approval")?).map_err(|e| {
        CliError::new(
            EXIT_USAGE,
            format!(
                "{} is neither an approval JSON (as GET …/approvals/ID returns it) nor \
                 {{\"receipt\", \"approval\"}}: {e}",
                file.display()
            ),
        )
    })?;
    let (approval, receipt) = match input {
        Input::Pair { receipt, approval } => (*approval, Some(*receipt)),
        Input::Approval(a) => (*a, None),
    };
    let (keys, source) = match keys {
        Some(path) => {
            let parsed: KeysFile =
                serde_json::from_slice(&read(path, "device keys")?).map_err(|e| {
                    CliError::new(
                        EXIT_USAGE,
                        format!("{} is not the JSON of GET …/devices: {e}", path.display()),
                    )
                })?;
            let keys = match parsed {
                KeysFile::List(l) => l.items,
                KeysFile::Items(i) => i,
            };
            (keys, KeysSource::File)
        }
        None => receipt::org_device_keys(engine, KEYS_WAIT)
            .await
            .map_err(|e| CliError::new(EXIT_OTHER, e.to_string()))?,
    };
    // The epoch of the server this device synced from, when it has: a v2 receipt
    // signed for another server database does not verify. Unknown (never synced):
    // that one check is skipped, everything else holds.
    let epoch = engine.server_epoch().ok().flatten();
    let outcome = receipt::verify_offline(&approval, receipt.as_ref(), &keys, epoch.as_deref());
    let report = Report {
        verified: outcome.is_ok(),
        approval_id: &approval.id,
        keys_from: source,
        device: outcome.as_ref().ok(),
        problem: outcome.as_ref().err().map(OfflineFailure::to_string),
    };
    if json {
        print_json(&report)?;
    }
    match outcome {
        Ok(device) => {
            if !json {
                println!(
                    "Verified: the decision on {} was signed on {} ({}, key {}), the decider's \
                     own device, and binds this approval, its request and its decision.",
                    approval.id, device.name, device.owner, device.key_id
                );
            }
            Ok(())
        }
        Err(problem) => {
            let err = CliError::new(
                EXIT_UNVERIFIED,
                format!("NOT verified: {} ({problem})", approval.id),
            );
            Err(if json { err.after_report() } else { err })
        }
    }
}
