// Code the user adds to the next chat message (Add Selection / Add File): fenced with its language
// and path, cut at a bound so that one huge file cannot fill the context by itself.
import * as path from "node:path";
import * as vscode from "vscode";

/** Characters of an attached file (a longer one is cut, and says so). */
const attachmentLimit = 60_000;

export interface Attachment {
  label: string;
  text: string;
}

/** The selection or the whole file of the active editor, or what the user should do first. */
export function attachmentFromEditor(what: "selection" | "file"): Attachment | { notice: string } {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    return { notice: "Open a file first: the selection or the current file is added from the editor." };
  }
  const document = editor.document;
  const name = document.uri.scheme === "file" ? path.basename(document.uri.fsPath) : document.uri.path.split("/").pop() ?? "untitled";
  const relative = vscode.workspace.asRelativePath(document.uri, false);
  let text: string;
  let label: string;
  if (what === "selection") {
    const selection = editor.selection;
    if (selection.isEmpty) {
      return { notice: "Select some code in the editor first (or add the whole file)." };
    }
    text = document.getText(selection);
    label = `${name}:${selection.start.line + 1}-${selection.end.line + 1}`;
  } else {
    text = document.getText();
    label = name;
  }
  if (text.length > attachmentLimit) text = `${text.slice(0, attachmentLimit)}\n… (cut: the file is longer than ${attachmentLimit} characters)`;
  const fenced = "```" + document.languageId + ` ${relative}${what === "selection" ? `:${editor.selection.start.line + 1}-${editor.selection.end.line + 1}` : ""}\n${text}\n` + "```";
  return { label, text: fenced };
}
