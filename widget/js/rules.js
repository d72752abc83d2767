//! The page's side of the module's exports (`widget/src/abi.rs`): the functions the view asks the rules.
//
// Numbers cross as they are. A call's strings are written into the module's buffer one after another and
// each is passed as its length in bytes (-1 for none); a call that answers with a string returns its
// length (-1 for none) and leaves it in the buffer. The buffer is asked for anew for every call, and each
// view of the memory made after the call that may have grown it: growing detaches an earlier view.

// The exports that answer with a string; the others answer with a number or nothing.
const texts = ["check", "submit", "say", "thanks"];

// The functions of an instance of the module, by name. (The coders are made here, when the rules have
// arrived, not when the script runs: nothing before the form is shown needs them.)
export function functions(instance) {
  const x = instance.exports;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const call = (name, args) => {
    const parts = args.map((a) => (typeof a == "number" ? a : a == null ? -1 : encoder.encode(a)));
    let at = x.io(parts.reduce((n, p) => n + (p.length || 0), 0));
    for (const p of parts) if (p.length >= 0) new Uint8Array(x.memory.buffer).set(p, at), (at += p.length);
    return x[name](...parts.map((p) => p.length ?? p));
  };
  const all = {};
  for (const name of ["open", "close", "check", "shown", "set", "tag", "submit", "say", "thanks"]) {
    const text = texts.includes(name);
    all[name] = (...args) => {
      const n = call(name, args);
      return !text ? n : n < 0 ? undefined : decoder.decode(new Uint8Array(x.memory.buffer, x.answer(), n));
    };
  }
  return all;
}
