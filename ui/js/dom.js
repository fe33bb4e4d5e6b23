// Element building without HTML parsing: every string becomes a text node, so text that
// an agent wrote (summaries, params, names, notes) can never turn into markup or script.

import { controlSegments } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** @typedef {Node | string | number | null | undefined | false} Leaf */
/**
 * What `h` and `s` accept as children: arrays flatten (two levels are typed; JSDoc
 * typedefs cannot recurse), and null, undefined and false are skipped.
 * @typedef {Leaf | Leaf[] | Leaf[][]} Child
 */

/** @param {any} el an element of any kind (value/checked/disabled where it has them) @param {Record<string, any> | null | undefined} attrs */
function apply(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "disabled") el.disabled = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * h("div", {class: "x"}, "text", child...)
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} attrs
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/**
 * Same as h, in the SVG namespace.
 * @param {string} tag
 * @param {Record<string, any> | null} attrs
 * @param {...Child} children
 * @returns {SVGElement}
 */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

/**
 * @template {Node} T
 * @param {T} el
 * @returns {T}
 */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/**
 * @param {string} sel
 * @param {ParentNode} [root]
 * @returns {HTMLElement | null}
 */
export function $(sel, root = document) {
  return root.querySelector(sel);
}

/**
 * An element index.html must contain, checked to be of the expected kind, so a renamed
 * id fails loudly here instead of as "cannot read properties of null" later.
 * @template {{ new (): HTMLElement, name: string }} T
 * @param {string} id
 * @param {T} type e.g. HTMLButtonElement
 * @returns {InstanceType<T>}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} is missing from the page or is not a ${type.name}`);
  return /** @type {InstanceType<T>} */ (el);
}

/**
 * Announces a message to screen readers and shows it briefly. */
/**
 * @param {string} message
 * @param {"info" | "error"} [kind]
 */
export function toast(message, kind = "info") {
  const host = document.getElementById("toasts");
  if (!host) return;
  const t = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  host.append(t);
  setTimeout(() => t.classList.add("leaving"), 4200);
  setTimeout(() => t.remove(), 4700);
}

/**
 * Agent-supplied text, isolated (`<bdi>`) and with its control characters shown as
 * muted chips (`⟨U+202E⟩`), all as text nodes.
 * @param {string|null|undefined} text
 * @param {Record<string, any>|null} [attrs] for the `<bdi>`
 */
export function agentText(text, attrs = null) {
  return h("bdi", attrs, controlSegments(text).map((p) => p.control
    ? h("span", { class: "ctl-chip", title: "Invisible control character" }, p.text)
    : p.text));
}

/**
 * A toast with one action ("Approved — Undo"), shown for `ms`; the action runs at most
 * once and removes the toast.
 * @param {string} message @param {string} label @param {() => void} action @param {number} ms
 * @param {string} [id] of the action button
 */
export function toastAction(message, label, action, ms, id) {
  const host = document.getElementById("toasts");
  if (!host) return null;
  const btn = h("button", { type: "button", class: "btn btn-small toast-action", id }, label);
  const t = h("div", { class: "toast toast-with-action", role: "status" }, h("span", null, message), btn);
  const timer = setTimeout(() => t.remove(), ms);
  btn.addEventListener("click", () => {
    clearTimeout(timer);
    t.remove();
    action();
  });
  host.append(t);
  return t;
}
