// What-if from the view: replace a token by a word of the model's vocabulary
// (or by the zero vector), undo, and type your own sentence.  The view only
// asks: the kernel embeds, recomputes from the edited step on and sends a new
// data version (docs/design.md §2, "What-if and your own sentence").  Words
// are user data and reach the DOM only as text (docs/design.md §4).

import type { Controller } from "./controller";
import { el } from "./dom";
import { MAX_TEXT_CHARS, ZERO_INPUT } from "./protocol";

/** The most words the chooser lists at once; typing narrows the list. */
export const CHOOSER_ROWS = 50;

/**
 * The words of `vocabulary` that match `query`, best first: the word itself,
 * then words starting with it, then words containing it (each in vocabulary
 * order, which is by frequency for a built vocabulary); at most `limit`.
 */
export function matchWords(vocabulary: readonly string[], query: string, limit = CHOOSER_ROWS): { words: string[]; total: number } {
  const q = query.trim().toLowerCase();
  if (q === "") return { words: vocabulary.slice(0, limit), total: vocabulary.length };
  const exact: string[] = [];
  const starts: string[] = [];
  const contains: string[] = [];
  for (const word of vocabulary) {
    const w = word.toLowerCase();
    if (w === q) exact.push(word);
    else if (w.startsWith(q)) starts.push(word);
    else if (w.includes(q)) contains.push(word);
  }
  const all = [...exact, ...starts, ...contains];
  return { words: all.slice(0, limit), total: all.length };
}

/** The chooser: a searchable list of replacements for one token, inside the widget. */
export class Chooser {
  readonly el: HTMLElement;
  readonly search: HTMLInputElement;
  private readonly heading: HTMLElement;
  private readonly list: HTMLElement;
  private readonly more: HTMLElement;
  private options: HTMLElement[] = [];
  private active = 0;
  /** The input being replaced (1 … T), or 0 while closed. */
  index = 0;
  /** The data version the chooser was opened on: an edit of inputs that have
   * changed since is refused by the kernel, never applied to another word. */
  version = -1;

  constructor(private readonly ctl: Controller, private readonly onClose: () => void) {
    const root = (this.el = el("div", "aw-chooser"));
    root.setAttribute("role", "dialog");
    root.hidden = true;
    const head = el("div", "aw-chooser-head");
    this.heading = el("span", "aw-chooser-title");
    const close = el("button", "aw-chooser-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.title = "Close (Esc)";
    close.addEventListener("click", () => this.close());
    head.append(this.heading, close);
    const search = (this.search = el("input", "aw-chooser-search"));
    search.type = "search";
    search.setAttribute("aria-label", "Search the vocabulary");
    search.placeholder = "type to search the vocabulary";
    search.autocomplete = "off";
    search.spellcheck = false;
    search.addEventListener("input", () => this.fill());
    const list = (this.list = el("ul", "aw-chooser-list"));
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Replacements");
    list.addEventListener("click", (event) => {
      const option = (event.target as HTMLElement).closest?.(".aw-chooser-option") as HTMLElement | null;
      if (option) this.pick(option);
    });
    this.more = el("div", "aw-chooser-more");
    root.append(head, search, list, this.more);
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  /** Offer replacements for x_i (1 … T). */
  open(i: number): void {
    const tokens: string[] = this.ctl.model.get("tokens") ?? [];
    if (i < 1 || i > tokens.length) return;
    this.index = i;
    this.version = this.ctl.store.version;
    this.heading.textContent = `replace x${i} “${tokens[i - 1]}” with:`;
    this.el.setAttribute("aria-label", `Replace x${i}`);
    this.el.hidden = false;
    this.search.value = "";
    this.fill();
    this.search.focus();
  }

  close(): void {
    if (!this.isOpen) return;
    this.el.hidden = true;
    this.index = 0;
    this.onClose();
  }

  /** List the zero input, then the matching words. */
  private fill(): void {
    const vocabulary: string[] = this.ctl.model.get("vocabulary") ?? [];
    const { words, total } = matchWords(vocabulary, this.search.value);
    const rows: [string | null, string][] = [[null, `${ZERO_INPUT}  zero input (x = 0)`], ...words.map((w): [string, string] => [w, w])];
    this.options = rows.map(([token, label], n) => {
      const li = el("li", "aw-chooser-option", label);
      li.setAttribute("role", "option");
      li.id = `aw-option-${n}`;
      if (token === null) li.dataset.zero = "true";
      else li.dataset.token = token;
      return li;
    });
    this.list.replaceChildren(...this.options);
    this.more.textContent =
      vocabulary.length === 0
        ? "these inputs are vectors: they can only be zeroed"
        : total > words.length
          ? `${words.length} of ${total} words shown: type to narrow`
          : `${total} word${total === 1 ? "" : "s"}`;
    // With a search, the best word is chosen on Enter; with none, the zero input.
    this.select(this.search.value.trim() !== "" && words.length > 0 ? 1 : 0);
  }

  private select(n: number): void {
    if (this.options.length === 0) return;
    this.active = Math.max(0, Math.min(this.options.length - 1, n));
    this.options.forEach((o, m) => o.setAttribute("aria-selected", String(m === this.active)));
    this.search.setAttribute("aria-activedescendant", this.options[this.active].id);
    this.options[this.active].scrollIntoView?.({ block: "nearest" });
  }

  private pick(option: HTMLElement): void {
    const i = this.index;
    const version = this.version;
    const token = option.dataset.zero === "true" ? null : option.dataset.token ?? null;
    this.close();
    if (i >= 1) this.ctl.edit(i, token, version);
  }

  /** Keys while the focus is in the chooser (the view hands them over). */
  onKey(event: KeyboardEvent): void {
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (event.key in moves) {
      event.preventDefault();
      this.select(this.active + moves[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const option = this.options[this.active];
      if (option) this.pick(option);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.close();
    }
  }
}

/** The text box: a sentence of your own, read by the model's own tokenizer in the kernel. */
export function textForm(ctl: Controller): { form: HTMLFormElement; input: HTMLInputElement } {
  const form = el("form", "aw-read");
  const input = el("input", "aw-read-text");
  input.type = "text";
  input.setAttribute("aria-label", "Your sentence");
  input.placeholder = "type a sentence of your own and press Enter";
  input.maxLength = MAX_TEXT_CHARS;
  input.autocomplete = "off";
  const submit = el("button", "aw-read-button", "Read");
  submit.type = "submit";
  submit.setAttribute("aria-label", "Read this sentence");
  submit.title = "the kernel splits it with the model's tokenizer; words it does not know are read as <unk>";
  form.append(input, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim() !== "") ctl.readText(input.value);
  });
  return { form, input };
}
