// Undo after Approve/Deny: a decision waits on this device for the undo window before
// it is sent (the core holds it in the outbox); until then the toast's Undo takes it back.
import { api } from "./api.js";
import { toast, toastAction } from "./dom.js";
import { serverNow } from "./format.js";

/**
 * Offers Undo for the decisions just queued, as long as they are held here.
 * @param {import("./types").OutboxEntry[]} entries
 * @param {string} done e.g. "Approved appr-1"
 * @param {(ids: string[]) => void} [afterUndo] e.g. reopen the approval
 */
export function offerUndo(entries, done, afterUndo) {
  const held = entries.filter((e) => e.send_after);
  if (!held.length) { toast(done); return; }
  const until = Math.min(...held.map((e) => new Date(/** @type {string} */ (e.send_after)).getTime()));
  const ms = Math.max(0, until - serverNow());
  if (ms < 300) { toast(done); return; }
  toastAction(`${done} — sending in ${Math.round(ms / 1000)} s`, "Undo", async () => {
    const undone = [];
    for (const e of held) {
      try {
        await api.cancelDecision(e.seq);
        undone.push(e.approval_id);
      } catch (err) {
        toast(`${e.approval_id}: ${/** @type {any} */ (err).message}`, "error");
      }
    }
    if (undone.length) {
      toast(undone.length === 1 ? `Undone: ${undone[0]} is pending again` : `Undone: ${undone.length} approvals are pending again`);
      afterUndo?.(undone);
    }
  }, ms, "undo");
}
