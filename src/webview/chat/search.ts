// Ctrl+F in the chat: a search bar over the chat's stored messages (the extension searches its
// data, archive included — not the DOM, which holds only the messages around the scroll
// position). Enter / ↓ goes to the next older hit, Shift+Enter / ↑ to the newer one; a hit is
// brought into view (loaded first when needed) and marked.
import type { FromWebview, SearchHit } from "../../../common/chatMessages";
import { iconButton } from "./dom";

export class SearchBar {
  private hits: SearchHit[] = [];
  private current = -1;
  private query = "";
  private more = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLSpanElement;

  constructor(
    private readonly bar: HTMLElement,
    private readonly chatId: () => string,
    private readonly post: (message: FromWebview) => void,
    private readonly reveal: (hit: SearchHit) => void,
  ) {
    this.input = document.createElement("input");
    this.input.type = "search";
    this.input.placeholder = "Search this chat";
    this.input.setAttribute("aria-label", "Search this chat");
    this.count = document.createElement("span");
    this.count.className = "search-count";
    bar.replaceChildren(
      this.input,
      this.count,
      iconButton("arrow-up", "Older match (Enter)", () => this.go(1)),
      iconButton("arrow-down", "Newer match (Shift+Enter)", () => this.go(-1)),
      iconButton("close", "Close (Escape)", () => this.close()),
    );
    this.input.addEventListener("input", () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.search(), 200);
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        if (this.input.value !== this.query) this.search();
        else this.go(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      }
    });
  }

  get open(): boolean {
    return !this.bar.hidden;
  }

  show(): void {
    this.bar.hidden = false;
    this.input.focus();
    this.input.select();
  }

  close(): void {
    this.bar.hidden = true;
    this.hits = [];
    this.current = -1;
  }

  /** Results from the extension (newest first). */
  results(chatId: string, query: string, hits: SearchHit[], more: boolean): void {
    if (chatId !== this.chatId() || query !== this.query) return;
    this.hits = hits;
    this.more = more;
    this.current = -1;
    if (hits.length === 0) this.count.textContent = "No results";
    else this.go(1);
  }

  private search(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.input.value === this.query && this.hits.length > 0) return;
    this.query = this.input.value;
    this.hits = [];
    this.current = -1;
    this.count.textContent = this.query === "" ? "" : "…";
    if (this.query !== "") this.post({ type: "search", chatId: this.chatId(), query: this.query });
  }

  private go(direction: 1 | -1): void {
    if (this.hits.length === 0) return;
    this.current = (this.current + direction + this.hits.length) % this.hits.length;
    const hit = this.hits[this.current]!;
    this.count.textContent = `${this.current + 1} of ${this.hits.length}${this.more ? "+" : ""}`;
    this.reveal(hit);
  }
}
