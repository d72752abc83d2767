//! `cargo xtask bench`, the part of a cold start that is the bundle's size: how long V8 takes to compile each
// Worker's wasm module (`new WebAssembly.Module`), median of 15 compilations, each in a fresh process so no
// compilation cache helps. Twice: with V8's default lazy compilation (functions are compiled when first
// called, so this is mostly decoding and validation), and with every function compiled up front, the
// bound on what the module's size can cost.
//
// Usage: node xtask/js/compile-bench.mjs            (measures every Worker the edge build holds)
//        node xtask/js/compile-bench.mjs <file.wasm> (prints one compilation's time in ms; used by the above)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

if (process.argv[2]) {
  const bytes = readFileSync(process.argv[2]);
  const t = performance.now();
  new WebAssembly.Module(bytes);
  console.log((performance.now() - t).toFixed(2));
  process.exit(0);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
for (const worker of ["collector", "operator"]) {
  const wasm = path.join(root, "edge/build", worker, "index_bg.wasm");
  for (const [how, flags] of [["lazy", []], ["eager", ["--no-wasm-lazy-compilation"]]]) {
    const times = Array.from({ length: 15 }, () => Number(execFileSync(process.execPath, [...flags, fileURLToPath(import.meta.url), wasm], { encoding: "utf8" })));
    times.sort((a, b) => a - b);
    console.log(
      `wasm compile, ${worker} (${readFileSync(wasm).length} bytes), ${how}: median ${times[7].toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[14].toFixed(1)}) over 15 fresh processes`,
    );
  }
}
