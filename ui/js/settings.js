// Settings, and the first-launch welcome that offers the demo.
import { api } from "./api.js";
import { h, toast } from "./dom.js";

/** @typedef {{ afterSettings: () => Promise<void>, startDemo: () => Promise<void> }} SettingsHooks */

/** @type {SettingsHooks} */
let hooks;

/** @param {SettingsHooks} h_ */
export function initSettings(h_) {
  hooks = h_;
}

/**
 * @param {string} label
 * @param {HTMLElement} input
 * @param {string} [help]
 */
function field(label, input, help) {
  // The error line is always there (empty): `aria-describedby` points at it, and
  // WebKitGTK draws no validation bubble of its own.
  const err = h("span", { class: "field-error", id: `${input.id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", help ? `${input.id}-help ${input.id}-error` : `${input.id}-error`);
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input,
    help ? h("span", { class: "help muted small", id: `${input.id}-help` }, help) : null, err);
}

/**
 * Shows (or clears, with "") the message next to a field, for eyes and screen readers.
 * @param {HTMLInputElement} input @param {string} message
 */
function fieldError(input, message) {
  const err = document.getElementById(`${input.id}-error`);
  if (err && err.textContent !== message) err.textContent = message;
  if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
}

/**
 * What is wrong with a server URL as typed, or "" (empty is allowed: not connected).
 * @param {string} value
 */
function urlProblem(value) {
  const v = value.trim();
  if (!v) return "";
  let u;
  try {
    u = new URL(v);
  } catch {
    return "Enter a full address, e.g. https://countersign.example.com";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "The address must start with https:// (or http:// on this computer).";
  return "";
}

/** @param {string} value */
function undoProblem(value) {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 60) return "Between 0 and 60 seconds.";
  return "";
}

/** @param {string} value */
function thresholdProblem(value) {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) return "Enter a whole number of minutes.";
  if (n < 1 || n > 1440) return "Between 1 minute and 24 hours (1440 minutes).";
  return "";
}

/**
 * @param {HTMLElement} root
 * @param {boolean} welcome the first-launch variant, offering the demo
 */
export async function renderSettings(root, welcome) {
  let st;
  try {
    st = await api.getSettings();
  } catch (e) {
    toast(e.message, "error");
    st = { server_url: "", org: "", has_token: false, token_location: null, expiring_soon_minutes: 60, notifications_enabled: true, start_at_login: false,
      approve_from_notification: false, digest_enabled: false, digest_times: ["09:00", "17:00"], undo_window_secs: 5, allow_insecure_http: false };
  }
  if (welcome) {
    root.append(h("div", { class: "welcome card", id: "welcome" },
      h("img", { src: "assets/logo.svg", alt: "", width: "56", height: "56" }),
      h("h1", null, "Welcome to Countersign"),
      h("p", { class: "muted" }, "Review and decide the requests your agents escalate. Connect to your server below, or look around with demo data first."),
      h("button", { type: "button", class: "btn btn-primary btn-large", id: "start-demo", onclick: () => hooks.startDemo() },
        "Try the demo")));
  } else {
    root.append(h("header", { class: "view-head" }, h("h1", { class: "view-title" }, "Settings")));
  }
  const url = h("input", { type: "url", id: "set-url", class: "input", value: st.server_url || "", placeholder: "https://countersign.example.com", autocomplete: "off", spellcheck: "false" });
  const org = h("input", { type: "text", id: "set-org", class: "input", value: st.org || "", placeholder: "org-…", autocomplete: "off", spellcheck: "false" });
  const token = h("input", { type: "password", id: "set-token", class: "input", autocomplete: "new-password",
    placeholder: st.has_token ? "•••••••• (stored; leave empty to keep it)" : "Paste an approver token" });
  const expiring = h("input", { type: "number", id: "set-expiring", class: "input input-narrow", min: "1", max: "1440", value: String(st.expiring_soon_minutes) });
  const undo = h("input", { type: "number", id: "set-undo", class: "input input-narrow", min: "0", max: "60",
    value: String(st.undo_window_secs ?? 5) });
  const approveBtn = h("input", { type: "checkbox", id: "set-approve-notif", checked: st.approve_from_notification, "aria-describedby": "set-approve-help" });
  const digest = h("input", { type: "checkbox", id: "set-digest", checked: st.digest_enabled });
  const [t1, t2] = (st.digest_times && st.digest_times.length === 2) ? st.digest_times : ["09:00", "17:00"];
  const digestAt = [t1, t2].map((t, i) => h("input", { type: "time", id: `set-digest-${i + 1}`, class: "input input-narrow", value: t,
    "aria-label": i === 0 ? "First digest time" : "Second digest time", required: true }));
  // http:// beyond this computer is refused unless the user says so here; the status bar
  // then shows "Unencrypted connection" for as long as it lasts.
  const insecure = h("input", { type: "checkbox", id: "set-insecure-http", checked: !!st.allow_insecure_http, "aria-describedby": "set-insecure-help" });
  const notif = h("input", { type: "checkbox", id: "set-notify", checked: st.notifications_enabled });
  const login = h("input", { type: "checkbox", id: "set-login", checked: st.start_at_login });
  // novalidate: the browser's own check would block Submit silently (WebKitGTK shows no bubble).
  const form = h("form", { class: "card settings", id: "settings-form", "aria-label": "Settings", novalidate: true },
    h("h2", { class: "card-title" }, "Server"),
    field("Server URL", url),
    field("Organisation", org),
    field("Token", token, st.has_token
      ? `A token is stored in ${st.token_location || "this device's token store"}. Leave empty to keep it; it is never shown.`
      : "Kept in the system keychain when there is one (else in a file only you can read), never shown again."),
    h("label", { class: "check" }, insecure, " Allow an unencrypted connection (http:// to another computer)"),
    h("p", { class: "help muted small", id: "set-insecure-help" },
      "Off by default: over http:// the token and every decision cross the network readable by anyone on the way. ",
      "Only https://, or http:// to this computer, is accepted without it."),
    h("h2", { class: "card-title" }, "Notifications"),
    h("label", { class: "check" }, notif, " Notify me about new approvals, expiring ones and rejected decisions"),
    field("Expiring soon threshold (minutes)", expiring, "1 to 1440 (24 hours). Used by the expiring-soon reminder, the digest and the queue's colours."),
    h("label", { class: "check" }, approveBtn, " Offer “Approve” on new-approval notifications"),
    h("p", { class: "help muted small", id: "set-approve-help" },
      "Off by default: the approval process asks you to review the policy trace and the risk snapshot before approving, ",
      "which a notification does not show. When on, the approval still goes through the outbox, noted “Approved from a notification”."),
    h("label", { class: "check" }, digest, " Daily digest of pending approvals"),
    h("div", { class: "digest-times" }, "At ", digestAt[0], " and ", digestAt[1],
      h("span", { class: "help muted small" }, " local time. A digest missed while the app was closed comes once when it opens, the same day.")),
    h("h2", { class: "card-title" }, "Decisions"),
    field("Undo window (seconds)", undo, "Approve and Deny wait this long on this device, so Undo can take them back. 0 sends at once."),
    h("h2", { class: "card-title" }, "System"),
    h("label", { class: "check" }, login, " Start Countersign at login"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary", id: "set-save" }, "Save")));
  // Checked as the approver leaves a field and again on Save: the message stays next to
  // the field until it is fixed.
  const checks = /** @type {[HTMLInputElement, (v: string) => string][]} */ ([[url, urlProblem], [expiring, thresholdProblem], [undo, undoProblem]]);
  for (const [input, problem] of checks) {
    input.addEventListener("change", () => fieldError(input, problem(input.value)));
    input.addEventListener("input", () => { if (input.getAttribute("aria-invalid")) fieldError(input, problem(input.value)); });
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let firstBad = null;
    for (const [input, problem] of checks) {
      const msg = problem(input.value);
      fieldError(input, msg);
      if (msg && !firstBad) firstBad = input;
    }
    if (firstBad) { firstBad.focus(); return; }
    const minutes = Number(expiring.value);
    const bad = digestAt.find((i) => !/^\d{2}:\d{2}/.test(i.value));
    if (bad) { toast("Enter both digest times as HH:MM, e.g. 09:00 and 17:00.", "error"); bad.focus(); return; }
    try {
      await api.saveSettings({
        server_url: url.value.trim() || null, org: org.value.trim() || null,
        token: token.value ? token.value : null, has_token: st.has_token,
        expiring_soon_minutes: minutes, notifications_enabled: notif.checked, start_at_login: login.checked,
        approve_from_notification: approveBtn.checked, digest_enabled: digest.checked,
        digest_times: digestAt.map((i) => i.value.slice(0, 5)),
        undo_window_secs: Number(undo.value),
        allow_insecure_http: insecure.checked,
      });
      token.value = "";
      toast("Settings saved");
      await hooks.afterSettings();
    } catch (err) {
      toast(err.message, "error");
    }
  });
  root.append(form);
  if (!welcome) {
    // The demo stays reachable after the welcome screen: it replaces no saved server.
    root.append(h("section", { class: "card settings", id: "settings-demo", "aria-labelledby": "settings-demo-title" },
      h("h2", { class: "card-title", id: "settings-demo-title" }, "Demo"),
      h("p", { class: "muted" }, "Look around with demo data from a server built into the app."),
      h("button", { type: "button", class: "btn", id: "settings-start-demo", onclick: () => hooks.startDemo() }, "Try the demo")));
  }
}
