// What screen readers hear: two polite live regions in index.html, written only when
// their text changes. Visible parts of the page that are rebuilt often (the banner, the
// connection line, counts) are not live regions themselves: a live region announces every
// rewrite, and a sync that changes nothing must say nothing.

/** @param {string} id @param {string} text */
function write(id, text) {
  const el = document.getElementById(id);
  if (el && el.textContent !== text) el.textContent = text;
}

/** The connection and delivery state in words; announced only when it differs from the last. @param {string} text */
export function announceStatus(text) {
  write("live-status", text);
}

/**
 * News about the queue ("3 new approvals"), announced once per call. The text node is
 * replaced, not edited, so the same words twice in a row (a second batch of 3) are a new
 * addition to the region and announced again, in a single change.
 * @param {string} text
 */
export function announceNews(text) {
  document.getElementById("live-news")?.replaceChildren(document.createTextNode(text));
}
