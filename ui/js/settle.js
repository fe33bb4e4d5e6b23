// Decision shortcuts wait until what is on screen has settled. A link or a notification
// can change the open approval, and the window can gain focus, while the approver's hands
// are still on the keyboard typing for another app or for the approval before: Shift+A
// then Enter meant for something else must not decide what just appeared. So for
// SETTLE_MS after the window gains focus or the detail shows another approval, Shift+A,
// Shift+D and Ctrl+Enter are ignored (and said to be); mouse clicks on the buttons are not.

/** Long enough to cover keys already on their way, short enough not to be noticed by
 * someone who reads before deciding. */
export const SETTLE_MS = 800;

let since = -Infinity;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let timer;

/** What is on screen just changed (focus gained, another approval shown). `data-shortcuts`
 * on the body says "settling" until the shortcuts act again ("ready"), for the e2e suite. */
export function unsettle() {
  since = performance.now();
  document.body.dataset.shortcuts = "settling";
  clearTimeout(timer);
  timer = setTimeout(() => { document.body.dataset.shortcuts = "ready"; }, SETTLE_MS);
}

/** Whether a decision shortcut may act now. */
export function settled() {
  return performance.now() - since >= SETTLE_MS;
}

window.addEventListener("focus", unsettle);
document.addEventListener("visibilitychange", () => { if (!document.hidden) unsettle(); });
