// Rules the UI applies. Each is decided in Rust and only read here, so the queue, the
// detail, the keyboard shortcuts and the CLI can never disagree.

/**
 * Whether Approve/Deny may be offered: the core's `is_decidable` (pending on this clock,
 * no decision of this device on its way), sent as `decidable` on queue rows and details.
 * @param {{decidable: boolean} | null | undefined} item
 */
export function isDecidable(item) {
  return !!(item && item.decidable);
}
