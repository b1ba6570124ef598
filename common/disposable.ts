// Disposal without bookkeeping by hand, on both sides (structurally compatible with vscode.Disposable
// and vscode-jsonrpc's Disposable): features push what they create into one store and return it.

export interface Disposable {
  dispose(): unknown;
}

/** Disposes everything added to it, newest first, once; adding after disposal disposes at once. */
export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Adds one disposable and returns it, so `const x = store.add(new X())` reads naturally. */
  add<T extends Disposable>(item: T): T {
    if (this.disposed) void item.dispose();
    else this.items.push(item);
    return item;
  }

  /** Adds a cleanup function. */
  onDispose(cleanup: () => unknown): void {
    this.add({ dispose: cleanup });
  }

  /** Disposes all items (errors in one do not stop the others; the first is rethrown after). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    let failure: unknown;
    let failed = false;
    for (const item of this.items.splice(0).reverse()) {
      try {
        void item.dispose();
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
    if (failed) throw failure;
  }
}
