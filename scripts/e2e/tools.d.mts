// Types for tools.mjs (kept as plain ESM so CI can run it with any Node before anything is built).
export declare const CODE_SERVER_VERSION: string;
export declare const NODE_MAJOR: number;
export declare const toolsDir: string;
export interface ToolPaths {
  node24: string;
  node24Headers: string;
  codeServerRoot: string;
  codeServerEntry: string;
  vscodeServerMain: string;
  chromium: string;
}
export declare const toolPaths: ToolPaths;
export declare function ensureTools(options?: { apt?: boolean; logFile?: string }): ToolPaths;
export declare function cleanEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
