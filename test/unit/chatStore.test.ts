// The persisted chat history on a real disk (src/chat/store.ts, storage.ts): the JSON stays bounded
// (the newest 400 messages, the window state) while older messages go to an append-only archive
// that scroll-back and search read again; a FIFO, a directory or a huge file where a chat file
// should be is refused with a message, without blocking, deleting or losing anything.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChatWindowState } from "../../common/protocol";
import { ChatStore, FolderStorage, liveLimit, type StoredMessage } from "../../src/chat/store";
import { maxChatFileBytes } from "../../src/chat/storage";

const message = (i: number, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  id: `m${i}`,
  role: i % 2 === 0 ? "user" : "assistant",
  text: `Message ${i}${i === 77 ? " mentions the aardvark" : ""}`,
  status: "done",
  createdAt: i,
  ...extra,
});

describe("chat store: bounded JSON, archive, refused files", () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "streamsink-store-"));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("keeps the newest 400 messages in the JSON and appends the rest to the archive, readable again", async () => {
    const dir = path.join(folder, "bounded");
    const store = await ChatStore.open(new FolderStorage(dir));
    const chat = store.create();
    for (let i = 0; i < 1000; i++) store.addMessage(chat.id, message(i, i === 5 ? { pinned: true } : {}));
    const window = { chatId: chat.id, firstInWindow: "m990", outsideAfter: [], outsideCount: 990 } as unknown as ChatWindowState;
    store.setWindow(chat.id, window);
    await store.flush();

    const json = JSON.parse(await readFile(path.join(dir, `${chat.id}.json`), "utf8"));
    assert.equal(json.messages.length, liveLimit);
    assert.equal(json.messages[0].id, "m600");
    assert.equal(json.archived, 600);
    assert.deepEqual(json.window, window, "the last window state is kept for the next reload");
    const lines = (await readFile(path.join(dir, `${chat.id}.archive.jsonl`), "utf8")).trim().split("\n");
    assert.equal(lines.length, 600, "each archived message is appended once");

    // A crash between the archive append and the JSON write repeats lines: they are skipped.
    await appendFile(path.join(dir, `${chat.id}.archive.jsonl`), `${lines.slice(-3).join("\n")}\n`);
    const reopened = await ChatStore.open(new FolderStorage(dir));
    assert.equal(reopened.count(chat.id), 1000);
    assert.deepEqual(
      (await reopened.range(chat.id, 0, 3)).map((m) => m.id),
      ["m0", "m1", "m2"],
    );
    assert.deepEqual(
      (await reopened.range(chat.id, 597, 603)).map((m) => m.id),
      ["m597", "m598", "m599", "m600", "m601", "m602"],
      "a page across the archive and the live messages",
    );
    assert.deepEqual(reopened.get(chat.id)!.archivedPins?.map((record) => [record.index, record.message.id]), [[5, "m5"]], "an archived pin is still known");
    const found = await reopened.search(chat.id, "AARDVARK");
    assert.deepEqual(found.hits.map((hit) => [hit.id, hit.index]), [["m77", 77]]);
    assert.match(found.hits[0]!.snippet, /aardvark/);
    const many = await reopened.search(chat.id, "message", 10);
    assert.equal(many.hits.length, 10);
    assert.equal(many.more, true);
    assert.equal(many.hits[0]!.id, "m999", "newest first");

    // Unpinning an archived message: the append-only archive line stays, the pin does not.
    reopened.updateMessage(chat.id, "m5", { pinned: false });
    assert.equal((await reopened.range(chat.id, 5, 6))[0]!.pinned, false);
    await reopened.flush();
  });

  it("refuses a FIFO, a directory and a huge file as chat files, with a message, and goes on", async () => {
    const dir = path.join(folder, "hostile");
    const store = await ChatStore.open(new FolderStorage(dir));
    const good = store.create();
    store.addMessage(good.id, message(0));
    await store.flush();
    execFileSync("mkfifo", [path.join(dir, "cfifo.json")]);
    await mkdir(path.join(dir, "cdir.json"));
    await writeFile(path.join(dir, "chuge.json"), "");
    await truncate(path.join(dir, "chuge.json"), maxChatFileBytes + 1);

    const started = Date.now();
    const reopened = await ChatStore.open(new FolderStorage(dir));
    assert.ok(Date.now() - started < 5000, "opening did not block on the FIFO");
    assert.equal(reopened.count(good.id), 1, "the readable chat is loaded");
    const problems = reopened.problems.join("\n");
    assert.match(problems, /cfifo\.json is a named pipe \(FIFO\)/);
    assert.match(problems, /cdir\.json is a directory/);
    assert.match(problems, /chuge\.json is 64\.0 MB, more than the 64 MB/);
    for (const name of ["cfifo.json", "cdir.json", "chuge.json"]) await stat(path.join(dir, name)); // left where they were

    // A FIFO where a chat's archive goes: the chat is still saved, its messages kept in the JSON.
    const errors: unknown[] = [];
    const writer = await ChatStore.open(new FolderStorage(dir), { onError: (error) => errors.push(error) });
    const target = writer.create();
    execFileSync("mkfifo", [path.join(dir, `${target.id}.archive.jsonl`)]);
    for (let i = 0; i < liveLimit + 5; i++) writer.addMessage(target.id, message(i));
    await writer.flush();
    assert.ok(errors.some((error) => /named pipe/.test(String(error))), "the refusal was reported");
    const saved = JSON.parse(await readFile(path.join(dir, `${target.id}.json`), "utf8"));
    assert.equal(saved.messages.length, liveLimit + 5, "nothing is lost: the JSON keeps what the archive could not take");
  });
});
