// The e2e steps, in the order they run (one page, state carries over). To add a step: write
// steps/<name>.ts exporting a Step (see ../harness.ts for helpers) and list it here.
// diagnostics reads what chat did (run them together: --only chat,diagnostics).
import type { Step } from "../harness";
import { badConfig } from "./badConfig";
import { chat } from "./chat";
import { chatReload } from "./chatReload";
import { diagnostics } from "./diagnostics";
import { inlineCompletion } from "./inlineCompletion";
import { statusReady } from "./statusReady";

export const steps: Step[] = [statusReady, chat, inlineCompletion, diagnostics, chatReload, badConfig];
