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
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input,
    help ? h("span", { class: "help muted small" }, help) : null);
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
    st = { server_url: "", org: "", has_token: false, expiring_soon_minutes: 60, notifications_enabled: true, start_at_login: false };
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
    placeholder: st.has_token ? "•••••••• stored in the system keychain" : "Paste an approver token" });
  const expiring = h("input", { type: "number", id: "set-expiring", class: "input input-narrow", min: "1", max: "10080", value: String(st.expiring_soon_minutes) });
  const notif = h("input", { type: "checkbox", id: "set-notify", checked: st.notifications_enabled });
  const login = h("input", { type: "checkbox", id: "set-login", checked: st.start_at_login });
  const form = h("form", { class: "card settings", id: "settings-form", "aria-label": "Settings" },
    h("h2", { class: "card-title" }, "Server"),
    field("Server URL", url),
    field("Organisation", org),
    field("Token", token, st.has_token ? "A token is stored. Leave empty to keep it; it is never shown." : "Kept in the system keychain, never shown again."),
    h("h2", { class: "card-title" }, "Notifications"),
    h("label", { class: "check" }, notif, " Notify me about new approvals, expiring ones and rejected decisions"),
    field("Expiring soon threshold (minutes)", expiring),
    h("h2", { class: "card-title" }, "System"),
    h("label", { class: "check" }, login, " Start Countersign at login"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary", id: "set-save" }, "Save")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const minutes = Number(expiring.value);
    if (!Number.isInteger(minutes) || minutes < 1) { toast("The threshold must be a whole number of minutes.", "error"); expiring.focus(); return; }
    try {
      await api.saveSettings({
        server_url: url.value.trim() || null, org: org.value.trim() || null,
        token: token.value ? token.value : null, has_token: st.has_token,
        expiring_soon_minutes: minutes, notifications_enabled: notif.checked, start_at_login: login.checked,
      });
      token.value = "";
      toast("Settings saved");
      await hooks.afterSettings();
    } catch (err) {
      toast(err.message, "error");
    }
  });
  root.append(form);
}
