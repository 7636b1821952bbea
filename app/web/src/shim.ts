// Node globals the Solana and Anchor browser builds still reference, supplied to the bundle by
// esbuild's `inject`: free uses of `Buffer` resolve here.
export { Buffer } from "buffer";
