export declare const outDir: string;
export declare function buildVscodeTests(): Promise<string>;
